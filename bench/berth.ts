import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import * as path from 'node:path';
import { Client } from 'pg';
import { REGISTRY_ENV, REGISTRY_NODE_FLAGS, REGISTRY_NODE_OPTIONS } from '../apps/registry/src/node-options';
import { freePort, runCommand, startChild, waitForHttp, type Cleanup } from './processes';
import type { Target } from './registry-client';

export const REPO_ROOT = path.resolve(__dirname, '..');
const ADMIN_DATABASE_URL = 'postgresql://postgres@127.0.0.1:5432/postgres';
/** Far above anything the bench sends, yet not 0 (0 would skip the limiter and its Redis round trip). */
const BENCH_OPS_PER_MINUTE = 2_000_000_000;

/** Environment names Berth reads; the bench sets its own values and drops any inherited ones. */
const BERTH_ENV = /^(DATABASE_URL|BERTH_.*|STORAGE_.*|AZURE_.*|REGISTRY_.*|MANAGEMENT_PORT|LOG_LEVEL|NODE_ENV)$/;

async function adminQuery(sql: string): Promise<void> {
  const client = new Client({ connectionString: ADMIN_DATABASE_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** A throw-away database, migrated with the project's own script, dropped at cleanup. */
async function createDatabase(cleanup: Cleanup, log: (line: string) => void): Promise<{ name: string; url: string }> {
  // Letters, digits and '_' only: the name never needs quoting tricks.
  const name = `berth_bench_${process.pid}_${randomBytes(4).toString('hex')}`;
  await adminQuery(`CREATE DATABASE "${name}"`);
  cleanup.add(`drop database ${name}`, () => adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  log(`• database ${name}: migrating`);
  await runCommand(process.execPath, ['scripts/db-migrate.mjs'], { cwd: REPO_ROOT, env: { ...process.env, DATABASE_URL: url.toString() } });
  // SKU operation limits are data: lifted so throttling never answers 429 mid-benchmark.
  const client = new Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await client.query(`UPDATE "Sku" SET "readOpsPerMinute" = $1, "writeOpsPerMinute" = $1`, [BENCH_OPS_PER_MINUTE]);
  } finally {
    await client.end();
  }
  return { name, url: url.toString() };
}

/**
 * Refreshes the planner's statistics, as autovacuum does on its own a minute
 * or so after a bulk change. Needed where autovacuum is off (as on some
 * development machines): with the statistics of an empty table, Postgres
 * plans a 10,000-row tag listing as if it had a handful of rows.
 */
export async function analyzeDatabase(url: string): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('ANALYZE');
  } finally {
    await client.end();
  }
}

/** `on`/`off` of the server's autovacuum, for the report. */
export async function autovacuumSetting(): Promise<string> {
  const client = new Client({ connectionString: ADMIN_DATABASE_URL });
  await client.connect();
  try {
    const version = (await client.query<{ server_version: string }>('SHOW server_version')).rows[0]?.server_version ?? '?';
    const autovacuum = (await client.query<{ autovacuum: string }>('SHOW autovacuum')).rows[0]?.autovacuum ?? '?';
    return `PostgreSQL ${version}, autovacuum ${autovacuum}`;
  } finally {
    await client.end();
  }
}

export interface BerthTarget extends Target {
  registryName: string;
  databaseName: string;
  databaseUrl: string;
  /** Every process started for Berth (the data plane's is `pid`). */
  pids: number[];
}

/**
 * Starts Berth's management API and data plane as separate processes (so the
 * data plane's memory can be sampled on its own), creates a Premium registry
 * with the admin user through the management API, and reads its password.
 * The worker is not started: nothing on the data path depends on it.
 */
export async function startBerth(
  workDir: string,
  cleanup: Cleanup,
  options: { cpuProfileDir: string | undefined; logLevel?: string; nodeFlags?: string[]; env?: Record<string, string>; log: (line: string) => void },
): Promise<BerthTarget> {
  const database = await createDatabase(cleanup, options.log);
  const storage = path.join(workDir, 'berth-storage');
  await mkdir(storage, { recursive: true });
  const [managementPort, registryPort] = [await freePort(), await freePort()];
  const apiKey = `berth_bench_${randomBytes(24).toString('base64url')}`;
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !BERTH_ENV.test(key)));
  Object.assign(env, {
    NODE_ENV: 'production',
    DATABASE_URL: database.url,
    BERTH_DOMAIN: 'localhost',
    BERTH_SECRET_KEY: randomBytes(32).toString('base64url'),
    BERTH_API_KEY: apiKey,
    BERTH_DATA_DIR: path.join(workDir, 'berth-data'),
    STORAGE_DRIVER: 'filesystem',
    STORAGE_PATH: storage,
    MANAGEMENT_PORT: String(managementPort),
    REGISTRY_PORT: String(registryPort),
    LOG_LEVEL: options.logLevel ?? 'warn',
    ...options.env,
  });

  // The production build, run the way the images run it: no TypeScript
  // loader in the measured process (it costs memory and start-up time).
  options.log('• building Berth (node scripts/build.mjs → dist/)');
  await runCommand(process.execPath, ['scripts/build.mjs'], { cwd: REPO_ROOT });
  const nodeArgs = (app: string, extra: string[] = []) => [...extra, `dist/apps/${app}/src/main.js`];
  options.log('• starting Berth (management API and data plane)');
  const management = startChild(
    'berth-management-api',
    process.execPath,
    nodeArgs('management-api'),
    { env, cwd: REPO_ROOT, logFile: path.join(workDir, 'berth-management-api.log') },
    cleanup,
  );
  if (options.cpuProfileDir) await mkdir(options.cpuProfileDir, { recursive: true });
  const profile = options.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`] : [];
  const registry = startChild(
    'berth-registry',
    process.execPath,
    nodeArgs('registry', [...REGISTRY_NODE_OPTIONS.split(' '), ...REGISTRY_NODE_FLAGS, ...(options.nodeFlags ?? []), ...profile]),
    { env: { ...env, ...REGISTRY_ENV }, cwd: REPO_ROOT, logFile: path.join(workDir, 'berth-registry.log') },
    cleanup,
  );
  await Promise.all([
    waitForHttp(management, managementPort, '/healthz', `localhost:${managementPort}`),
    waitForHttp(registry, registryPort, '/healthz', `localhost:${registryPort}`),
  ]);

  const registryName = `bench${randomBytes(5).toString('hex')}`;
  const api = `http://127.0.0.1:${managementPort}/api/v1`;
  const auth = { authorization: `Bearer ${apiKey}` };
  const created = await fetch(`${api}/registries`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ name: registryName, sku: 'Premium', adminUserEnabled: true }),
  });
  if (created.status !== 201) throw new Error(`creating the registry answered ${created.status}: ${await created.text()}`);
  const credentials = await fetch(`${api}/registries/${registryName}/credentials`, { headers: auth });
  if (credentials.status !== 200) throw new Error(`reading credentials answered ${credentials.status}: ${await credentials.text()}`);
  const body = (await credentials.json()) as { username: string; passwords: Array<{ name: string; value: string }> };
  const password = body.passwords[0]?.value;
  if (!password) throw new Error('the credentials response holds no password');
  // The management API is not part of what is measured: stop it so it costs no CPU or memory.
  await management.stop();

  return {
    label: 'Berth',
    port: registryPort,
    host: `${registryName}.localhost:${registryPort}`,
    credentials: { username: body.username, password },
    pid: registry.pid,
    authDescription: 'on (Docker token flow: 401 challenge → /oauth2/token with the admin user → Bearer token)',
    registryName,
    databaseName: database.name,
    databaseUrl: database.url,
    pids: [management.pid, registry.pid],
  };
}
