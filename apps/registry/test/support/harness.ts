import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import Redis from 'ioredis';
import { loadConfig, type BerthConfig } from '@berth/config';
import { createDb, type Db } from '@berth/db';
import { createTestDatabase, type TestDatabase } from '@berth/testing';
import { createRegistryServer, type RegistryServer, type RegistryServerDeps } from '../../src/registry-server';
import { RegistryClient, type Auth } from './client';

export const TEST_DOMAIN = 'berth.test';

export interface Harness {
  config: BerthConfig;
  db: Db;
  storagePath: string;
  redis: Redis;
  redisKeyPrefix: string;
  current: RegistryServer;
  port: number;
  /** A client whose Host header selects `registryName`. */
  client(registryName: string, auth?: Auth): RegistryClient;
  /** Stops the server and starts a new instance (fresh process memory, new port). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/**
 * One data-plane server per test file: its own database (cloned from the
 * migrated template), a temporary filesystem store and its own Redis key prefix.
 */
export async function startHarness(env: Record<string, string> = {}, deps: Partial<RegistryServerDeps> = {}): Promise<Harness> {
  const database: TestDatabase = await createTestDatabase();
  const storagePath = await mkdtemp(path.join(tmpdir(), 'berth-registry-'));
  const config = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: database.url,
    BERTH_DOMAIN: TEST_DOMAIN,
    STORAGE_DRIVER: 'filesystem',
    STORAGE_PATH: storagePath,
    BERTH_SECRET_KEY: 'registry-e2e-secret-key-0123456789abcdef',
    LOG_LEVEL: 'silent',
    ...env,
  });
  const db = createDb(database.url);
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 1 });
  const redisKeyPrefix = `test:registry:${randomUUID()}:`;

  const start = async (): Promise<{ server: RegistryServer; port: number }> => {
    const server = await createRegistryServer(config, { redis, redisKeyPrefix, registryCacheTtlMs: 0, ...deps });
    await new Promise<void>((resolve) => server.server.listen(0, '127.0.0.1', resolve));
    return { server, port: (server.server.address() as AddressInfo).port };
  };

  let running = await start();
  const harness: Harness = {
    config,
    db,
    storagePath,
    redis,
    redisKeyPrefix,
    get current() {
      return running.server;
    },
    get port() {
      return running.port;
    },
    client: (registryName, auth) => new RegistryClient(running.port, `${registryName}.${TEST_DOMAIN}`, auth),
    async restart() {
      await running.server.close();
      running = await start();
    },
    async close() {
      await running.server.close();
      const keys = await redis.keys(`${redisKeyPrefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
      await db.$disconnect();
      await database.drop();
      await rm(storagePath, { recursive: true, force: true });
    },
  };
  return harness;
}
