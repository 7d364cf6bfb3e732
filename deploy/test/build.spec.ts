// The production build (npm run build → dist/) and the container health check:
// the three apps start from the compiled output with nothing but node_modules
// next to it, answer their health endpoints and work together, and the health
// check script tells a healthy app from a missing or failing one.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as net from 'node:net';
import * as path from 'node:path';
import { createTestDatabase, type TestDatabase } from '@berth/testing';
import Redis from 'ioredis';
import { buildToTemp, type BuildOutput } from './support/build';
import { REPO_ROOT } from './support/paths';

const API_KEY = 'deploy-test-api-key-0123456789';
const SECRET_KEY = 'deploy-test-secret-key-0123456789abcdef';
const HEALTHCHECK = path.join(REPO_ROOT, 'deploy', 'docker', 'healthcheck.js');
const WORKER_METRICS_PORT = 9464;
/** A Redis database of this test's own, so its worker never takes jobs of another installation. */
const REDIS_URL = 'redis://127.0.0.1:6379/11';

interface RunningApp {
  child: ChildProcess;
  output: string[];
}

let build: BuildOutput;
let database: TestDatabase;
const running: RunningApp[] = [];

beforeAll(async () => {
  [build, database] = await Promise.all([buildToTemp(), createTestDatabase()]);
});

afterAll(async () => {
  await Promise.all(running.map((app) => stop(app)));
  // The worker leaves its queues and schedulers behind.
  const redis = new Redis(REDIS_URL, { lazyConnect: true });
  await redis.connect().then(() => redis.flushdb(), () => undefined);
  redis.disconnect();
  await database?.drop();
  await build?.remove();
});

/** Production sources, as scripts/build.mjs selects them. */
function productionSources(): string[] {
  const sources: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(path.join(REPO_ROOT, dir), { withFileTypes: true })) {
      const relative = `${dir}/${entry.name}`;
      if (entry.isDirectory()) {
        if (!['test', 'testing', '__tests__'].includes(entry.name)) walk(relative);
      } else if (/\.ts$/.test(entry.name) && !/\.(spec|e2e-spec|test)\.ts$|\.d\.ts$/.test(entry.name)) {
        sources.push(relative);
      }
    }
  };
  for (const group of ['apps', 'libs']) {
    for (const project of readdirSync(path.join(REPO_ROOT, group))) {
      if (`${group}/${project}` !== 'libs/testing') walk(`${group}/${project}/src`);
    }
  }
  return sources;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

/** Starts a built app as the image does (`node dist/apps/<app>/src/main.js`, NODE_ENV=production). */
function start(app: string, env: Record<string, string>): RunningApp {
  const child = spawn(process.execPath, [`dist/apps/${app}/src/main.js`], {
    cwd: build.root,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'production',
      NODE_OPTIONS: '--enable-source-maps',
      DATABASE_URL: database.url,
      BERTH_SECRET_KEY: SECRET_KEY,
      BERTH_API_KEY: API_KEY,
      BERTH_DATA_DIR: path.join(build.root, 'data'),
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  child.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const started = { child, output };
  running.push(started);
  return started;
}

async function stop(app: RunningApp): Promise<number | null> {
  if (app.child.exitCode !== null || app.child.signalCode !== null) return app.child.exitCode;
  const exited = new Promise<number | null>((resolve) => app.child.once('exit', (code) => resolve(code)));
  app.child.kill('SIGTERM');
  const timer = setTimeout(() => app.child.kill('SIGKILL'), 15_000);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

/** Polls until the URL answers 200, failing early with the app's output if it exits. */
async function waitForHealthy(app: RunningApp, url: string): Promise<void> {
  const deadline = Date.now() + 40_000;
  while (Date.now() < deadline) {
    if (app.child.exitCode !== null) throw new Error(`exited with ${app.child.exitCode}:\n${app.output.join('')}`);
    const ok = await fetch(url).then((r) => r.status === 200, () => false);
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${url} not healthy in time:\n${app.output.join('')}`);
}

/** An HTTP request with a chosen Host header (fetch does not allow setting it). */
function requestWithHost(port: number, host: string, pathName: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: pathName, headers: { Host: host }, agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function healthcheck(target: string, env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [HEALTHCHECK, target], { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 10_000 }, (error, _stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stderr });
    });
  });
}

describe('npm run build', () => {
  it('compiles every production source, and only those, to dist/', () => {
    const expected = productionSources().map((s) => `dist/${s.replace(/\.ts$/, '.js')}`).sort();
    const js = [...build.files].filter((f) => f.endsWith('.js')).sort();
    expect(js).toEqual(expected);
    expect(js).toEqual(expect.arrayContaining(['dist/apps/management-api/src/main.js', 'dist/apps/registry/src/main.js', 'dist/apps/worker/src/main.js']));
    expect(js).toContain('dist/libs/db/src/generated/prisma/client.js');
    expect(js.filter((f) => /spec\.js$|\/testing\//.test(f))).toEqual([]);
    expect(build.log).toMatch(/node \S*dist\/apps\/registry\/src\/main\.js/);
  });

  it('rewrites the @berth/* aliases to relative requires and names no machine path', () => {
    const main = readFileSync(path.join(build.root, 'dist/apps/registry/src/main.js'), 'utf8');
    expect(main).toContain('require("../../../libs/config/src")');
    for (const file of build.files) {
      const text = readFileSync(path.join(build.root, file), 'utf8');
      expect({ file, alias: /require\("@berth\//.test(text), machinePath: text.includes(REPO_ROOT) }).toEqual({ file, alias: false, machinePath: false });
    }
    const map = JSON.parse(readFileSync(path.join(build.root, 'dist/apps/registry/src/main.js.map'), 'utf8'));
    expect(map.sources).toEqual(['../../../../apps/registry/src/main.ts']);
  });

  function runBuild(...args: string[]): Promise<{ code: number; stderr: string }> {
    return new Promise((resolve) => {
      execFile(process.execPath, ['scripts/build.mjs', ...args], { cwd: REPO_ROOT }, (error, _stdout, stderr) =>
        resolve({ code: error ? Number(error.code) : 0, stderr }),
      );
    });
  }

  it('rejects an unknown argument', async () => {
    const result = await runBuild('--bogus');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('unknown argument "--bogus"');
  });

  it('refuses to empty a directory that is not build output', async () => {
    for (const dir of ['apps', path.dirname(REPO_ROOT)]) {
      const result = await runBuild('--out-dir', dir);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('refusing to empty');
    }
    expect(readdirSync(path.join(REPO_ROOT, 'apps'))).toEqual(expect.arrayContaining(['management-api', 'registry', 'worker']));
    expect(build.files.has('dist/.berth-build')).toBe(true);
  });
});

describe('the built apps', () => {
  let managementPort: number;
  let registryPort: number;

  beforeAll(async () => {
    if (await portInUse(WORKER_METRICS_PORT)) {
      throw new Error(`port ${WORKER_METRICS_PORT} (the worker's metrics server) is in use, e.g. by npm start; stop it and rerun`);
    }
    [managementPort, registryPort] = await Promise.all([freePort(), freePort()]);
    const redis = { REDIS_URL };
    const management = start('management-api', { ...redis, MANAGEMENT_PORT: String(managementPort) });
    const registry = start('registry', { ...redis, REGISTRY_PORT: String(registryPort) });
    const worker = start('worker', redis);
    await Promise.all([
      waitForHealthy(management, `http://127.0.0.1:${managementPort}/readyz`),
      waitForHealthy(registry, `http://127.0.0.1:${registryPort}/healthz`),
      waitForHealthy(worker, `http://127.0.0.1:${WORKER_METRICS_PORT}/readyz`),
    ]);
  }, 60_000);

  it('serve the management API: auth, SKUs from the migrated database, registry creation', async () => {
    const base = `http://127.0.0.1:${managementPort}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/api/v1/skus`)).status).toBe(401);
    const skus = await fetch(`${base}/api/v1/skus`, { headers: { Authorization: `Bearer ${API_KEY}` } });
    expect(skus.status).toBe(200);
    expect(JSON.stringify(await skus.json())).toContain('"Standard"');
    const created = await fetch(`${base}/api/v1/registries`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'deploysmoke', sku: 'Standard' }),
    });
    expect(created.status).toBe(201);
  });

  it('serve the data plane for the registry the management API created', async () => {
    const known = await requestWithHost(registryPort, 'deploysmoke.localhost', '/v2/');
    expect(known.status).toBe(401);
    expect(known.headers['www-authenticate']).toContain('realm="http://deploysmoke.localhost');
    const unknown = await requestWithHost(registryPort, 'nosuchregistry.localhost', '/v2/');
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body).errors[0].code).toBe('NAME_UNKNOWN');
  });

  it('serve the worker metrics and health on its fixed port', async () => {
    const metrics = await fetch(`http://127.0.0.1:${WORKER_METRICS_PORT}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/^# HELP /m);
  });

  it('pass the container health check, which fails for a closed port, an unhealthy app and an unknown target', async () => {
    expect((await healthcheck('management-api', { MANAGEMENT_PORT: String(managementPort) })).code).toBe(0);
    expect((await healthcheck('registry', { REGISTRY_PORT: String(registryPort) })).code).toBe(0);
    expect((await healthcheck('worker', {})).code).toBe(0);

    const closed = await healthcheck('registry', { REGISTRY_PORT: String(await freePort()) });
    expect(closed.code).toBe(1);
    expect(closed.stderr).toContain('registry health check failed');

    const unhealthy = http.createServer((_req, res) => res.writeHead(503).end());
    await new Promise<void>((resolve) => unhealthy.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = unhealthy.address() as AddressInfo;
      expect((await healthcheck('management-api', { MANAGEMENT_PORT: String(port) })).code).toBe(1);
    } finally {
      await new Promise<void>((resolve) => unhealthy.close(() => resolve()));
    }

    const unknown = await healthcheck('database', {});
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('usage: node healthcheck.js <management-api|registry|worker>');
  });

  it('stop cleanly on SIGTERM', async () => {
    const codes = await Promise.all(running.map((app) => stop(app)));
    // Exit 0, or ended by the SIGTERM itself (Nest re-raises it after its shutdown hooks); not a crash or the SIGKILL fallback.
    const outcomes = codes.map((code, i) => (code === 0 || running[i].child.signalCode === 'SIGTERM' ? 'clean' : `exit ${code} ${running[i].child.signalCode}`));
    expect(outcomes).toEqual(['clean', 'clean', 'clean']);
  });
});
