// `npm start` as a newcomer runs it: no DATABASE_URL (embedded PostgreSQL),
// a Redis URL where nothing answers yet (redis-server gets started), a fresh
// data directory. Then Ctrl-C, a second start, and the data is still there.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import * as http from 'node:http';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const hasRedisServer = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const children: ChildProcess[] = [];

interface Started {
  child: ChildProcess;
  output: () => string;
}

async function startBerth(env: Record<string, string>): Promise<Started> {
  const child = spawn(process.execPath, ['-r', './scripts/register.js', 'scripts/start.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const deadline = Date.now() + 90_000;
  while (!output.includes('Berth is running.')) {
    if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode}:\n${output}`);
    if (Date.now() > deadline) throw new Error(`npm start did not come up in time:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return { child, output: () => output };
}

async function stopBerth(started: Started): Promise<number | null> {
  started.child.kill('SIGINT');
  return new Promise((resolve, reject) => {
    if (started.child.exitCode !== null) return resolve(started.child.exitCode);
    const timer = setTimeout(() => {
      started.child.kill('SIGKILL');
      reject(new Error(`Ctrl-C did not stop npm start within 30 s:\n${started.output()}`));
    }, 30_000);
    started.child.once('exit', (code) => (clearTimeout(timer), resolve(code)));
  });
}

/** fetch() drops a Host header; the data plane routes by it. */
async function getWithHost(url: string, host: string): Promise<{ status: number; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { headers: { host }, agent: false }, (response) => {
      response.resume();
      response.once('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers }));
    });
    request.once('error', reject);
  });
}

async function redisAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

(hasRedisServer ? describe : describe.skip)('npm start (zero setup)', () => {
  jest.setTimeout(240_000);
  let dataDir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'berth-start-'));
    const [management, registry, postgres, redis, metrics] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
    env = {
      BERTH_DATA_DIR: dataDir,
      MANAGEMENT_PORT: String(management),
      REGISTRY_PORT: String(registry),
      BERTH_EMBEDDED_PG_PORT: String(postgres),
      REDIS_URL: `redis://127.0.0.1:${redis}`,
      BERTH_WORKER_METRICS_PORT: String(metrics),
      BERTH_QUEUE_PREFIX: `start-test-${process.pid}`,
      LOG_LEVEL: 'info',
    };
  });

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });

  it('starts everything, prints the key and an example, keeps data across a restart, and stops on Ctrl-C', async () => {
    const api = `http://127.0.0.1:${env.MANAGEMENT_PORT}`;
    const first = await startBerth(env);
    const key = (await readFile(path.join(dataDir, 'api-key'), 'utf8')).trim();
    expect(first.output()).toContain(`API key          ${key}`);
    expect(first.output()).toContain('podman login');
    expect(await redisAnswers(Number(new URL(env.REDIS_URL!).port))).toBe(true);

    const created = await fetch(`${api}/api/v1/registries`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'startregistry', sku: 'Standard', adminUserEnabled: true }),
    });
    expect(created.status).toBe(201);
    const credentials = await (await fetch(`${api}/api/v1/registries/startregistry/credentials`, { headers: { authorization: `Bearer ${key}` } })).json();

    // The data plane answers for the new registry, with the token flow.
    const ping = await getWithHost(`http://127.0.0.1:${env.REGISTRY_PORT}/v2/`, `startregistry.localhost:${env.REGISTRY_PORT}`);
    expect(ping.status).toBe(401);
    expect(ping.headers['www-authenticate']).toContain('realm="http://startregistry.localhost');
    const workerHealth = await fetch(`http://127.0.0.1:${env.BERTH_WORKER_METRICS_PORT}/healthz`);
    expect(workerHealth.status).toBe(200);

    expect(await stopBerth(first)).toBe(0);
    // Ctrl-C stopped the Redis it started, too.
    expect(await redisAnswers(Number(new URL(env.REDIS_URL!).port))).toBe(false);

    const second = await startBerth(env);
    try {
      expect(second.output()).not.toContain('initialising an embedded PostgreSQL');
      const again = await fetch(`${api}/api/v1/registries/startregistry/credentials`, { headers: { authorization: `Bearer ${key}` } });
      expect(again.status).toBe(200);
      // Same secret key, so the sealed passwords still open to the same values.
      expect(await again.json()).toEqual(credentials);
    } finally {
      expect(await stopBerth(second)).toBe(0);
    }
  });

  it('stops with a clear message when Redis is unreachable and cannot be started', async () => {
    const port = await freePort();
    const child = spawnSync(process.execPath, ['-r', './scripts/register.js', 'scripts/start.ts'], {
      cwd: ROOT,
      // No redis-server on this PATH, and nothing listening on the port.
      env: { ...env, PATH: '/nonexistent', REDIS_URL: `redis://127.0.0.1:${port}`, DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/postgres' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(child.status).toBe(1);
    expect(child.stderr).toContain(`Nothing answers at redis://127.0.0.1:${port}`);
    expect(child.stderr).toContain('redis-server is not on the PATH');
    expect(child.stderr).toContain('REDIS_URL');
  });
});
