// The whole installation in one process: management API, data plane and
// worker started in-process on one fresh database, one filesystem store in a
// temporary directory and their own Redis prefixes — wired the way the apps
// are deployed, but each on port 0. Only this e2e project may import apps.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { loadConfig, type BerthConfig } from '@berth/config';
import { createTestDatabase, deleteRedisKeys, type TestDatabase } from '@berth/testing';
import { createManagementApp } from '../../../apps/management-api/src/app.factory';
import { createRegistryServer, type RegistryServer } from '../../../apps/registry/src/registry-server';
import { createWorker, type BerthWorker } from '../../../apps/worker/src/worker';
import { DataPlaneClient } from './data-plane-client';

export const E2E_DOMAIN = 'berth.test';
const API_KEY = 'e2e-bootstrap-operator-key-0123456789';
const SECRET_KEY = 'e2e-secret-key-for-the-whole-stack-0123456789';
const REDIS_URL = 'redis://127.0.0.1:6379';

export interface ApiResult<T = any> {
  status: number;
  body: T;
}

export interface Stack {
  config: BerthConfig;
  storagePath: string;
  managementUrl: string;
  registryPort: number;
  /** A management API call over HTTP with the operator key; JSON in and out. */
  api<T = any>(method: string, path: string, body?: unknown): Promise<ApiResult<T>>;
  /** A data-plane client whose Host header is `loginServer`. */
  dataPlane(loginServer: string): DataPlaneClient;
  close(): Promise<void>;
}

export async function startStack(env: Record<string, string> = {}): Promise<Stack> {
  const database: TestDatabase = await createTestDatabase();
  const storagePath = await mkdtemp(path.join(tmpdir(), 'berth-e2e-'));
  const id = randomBytes(6).toString('hex');
  const queuePrefix = `berth-e2e-${id}`;
  const redisKeyPrefix = `test:e2e:${id}:`;
  let management: NestExpressApplication | undefined;
  let registry: RegistryServer | undefined;
  let worker: BerthWorker | undefined;

  const close = async () => {
    await Promise.allSettled([worker?.stop(), registry?.close(), management?.close()]);
    await database.drop();
    await rm(storagePath, { recursive: true, force: true });
    await deleteRedisKeys(REDIS_URL, `${queuePrefix}:*`);
    await deleteRedisKeys(REDIS_URL, `${redisKeyPrefix}*`);
  };

  try {
    const config = loadConfig({
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      DATABASE_URL: database.url,
      REDIS_URL,
      BERTH_DOMAIN: E2E_DOMAIN,
      BERTH_API_KEY: API_KEY,
      BERTH_SECRET_KEY: SECRET_KEY,
      STORAGE_DRIVER: 'filesystem',
      STORAGE_PATH: storagePath,
      BERTH_WEBHOOK_ALLOW_LOOPBACK: 'true',
      BERTH_WEBHOOK_MAX_ATTEMPTS: '4',
      BERTH_WEBHOOK_TIMEOUT_MS: '2000',
      ...env,
    });

    management = await createManagementApp(config);
    await management.listen(0, '127.0.0.1');
    const managementUrl = `http://127.0.0.1:${(management.getHttpServer().address() as AddressInfo).port}`;

    // No Host → registry cache, so a purged registry stops answering at once.
    registry = await createRegistryServer(config, { redisKeyPrefix, registryCacheTtlMs: 0 });
    const server = registry.server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const registryPort = (server.address() as AddressInfo).port;

    worker = await createWorker(config, {
      queuePrefix,
      metricsPort: null,
      relayPollIntervalMs: 50,
      webhookBackoffMs: 100,
      jobBackoffMs: 100,
      lockDurationMs: 5_000,
      stalledIntervalMs: 1_000,
      schedules: false,
      shutdownTimeoutMs: 5_000,
    });
    await worker.start();

    return {
      config,
      storagePath,
      managementUrl,
      registryPort,
      async api(method, apiPath, body) {
        const response = await fetch(`${managementUrl}${apiPath}`, {
          method,
          headers: { authorization: `Bearer ${API_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        const text = await response.text();
        return { status: response.status, body: text && /json/.test(response.headers.get('content-type') ?? '') ? JSON.parse(text) : text };
      },
      dataPlane: (loginServer) => new DataPlaneClient(registryPort, loginServer),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

export { waitFor } from '@berth/testing';
