// One test file's world: its own database, storage directory, BullMQ prefix
// and worker, on the machine's real Postgres and Redis.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { loadConfig, type BerthConfig } from '@berth/config';
import { createDb, type Db } from '@berth/db';
import { createBlobStore, type BlobStore } from '@berth/storage';
import { createTestDatabase, deleteRedisKeys, type TestDatabase } from '@berth/testing';
import { createWorker, type BerthWorker } from '../../src/worker';
import type { WorkerOverrides } from '../../src/worker-options';

export const SHARED_REDIS_URL = 'redis://127.0.0.1:6379';

export interface Harness {
  db: Db;
  store: BlobStore;
  config: BerthConfig;
  prefix: string;
  storagePath: string;
  database: TestDatabase;
  /** Env the config was built from (child processes reuse it). */
  env: Record<string, string>;
  startWorker(overrides?: WorkerOverrides, env?: Record<string, string>): Promise<BerthWorker>;
  close(): Promise<void>;
}

/** Timings that make retries and takeovers happen in test time. */
export const FAST: WorkerOverrides = {
  metricsPort: null,
  relayPollIntervalMs: 50,
  webhookBackoffMs: 100,
  jobBackoffMs: 100,
  lockDurationMs: 2_000,
  stalledIntervalMs: 500,
  schedules: false,
  shutdownTimeoutMs: 5_000,
};

export async function createHarness(env: Record<string, string> = {}): Promise<Harness> {
  const database = await createTestDatabase();
  const storagePath = await mkdtemp(path.join(tmpdir(), 'berth-worker-'));
  const prefix = `berth-test-${randomBytes(6).toString('hex')}`;
  const baseEnv: Record<string, string> = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: database.url,
    REDIS_URL: SHARED_REDIS_URL,
    STORAGE_DRIVER: 'filesystem',
    STORAGE_PATH: storagePath,
    BERTH_SECRET_KEY: 'test-secret-key-for-the-worker-tests-0123456789',
    BERTH_WEBHOOK_ALLOW_LOOPBACK: 'true',
    BERTH_WEBHOOK_MAX_ATTEMPTS: '3',
    BERTH_WEBHOOK_TIMEOUT_MS: '2000',
    BERTH_GC_GRACE: '0',
    ...env,
  };
  const config = loadConfig(baseEnv);
  const db = createDb(database.url, { maxConnections: 8 });
  const store = await createBlobStore(config.storage);
  const workers: BerthWorker[] = [];
  return {
    db,
    store,
    config,
    prefix,
    storagePath,
    database,
    env: baseEnv,
    async startWorker(overrides = {}, extraEnv = {}) {
      const workerConfig = Object.keys(extraEnv).length > 0 ? loadConfig({ ...baseEnv, ...extraEnv }) : config;
      const worker = await createWorker(workerConfig, { db, blobStore: store, queuePrefix: prefix, ...FAST, ...overrides });
      workers.push(worker);
      await worker.start();
      return worker;
    },
    async close() {
      await Promise.allSettled(workers.map((worker) => worker.stop()));
      await db.$disconnect();
      await database.drop();
      await rm(storagePath, { recursive: true, force: true });
      await deleteRedisKeys(SHARED_REDIS_URL, `${prefix}:*`);
    },
  };
}

export { waitFor } from '@berth/testing';

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A webhook receiver: records every request and answers with what `respond` says (default 200). */
export interface Receiver {
  url: string;
  port: number;
  requests: ReceivedRequest[];
  respond: (request: ReceivedRequest, index: number) => { status: number; body?: string; headers?: Record<string, string> };
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const receiver: Receiver = {
    url: '',
    port: 0,
    requests: [],
    respond: () => ({ status: 200, body: 'ok' }),
    close: async () => undefined,
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      receiver.requests.push(request);
      const answer = receiver.respond(request, receiver.requests.length - 1);
      res.writeHead(answer.status, answer.headers ?? { 'Content-Type': 'text/plain' }).end(answer.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  receiver.port = (server.address() as AddressInfo).port;
  receiver.url = `http://127.0.0.1:${receiver.port}`;
  receiver.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return receiver;
}

/** A port nothing listens on (bound, then released). */
export async function freePort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
