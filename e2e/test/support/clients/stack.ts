import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { loadConfig, type BerthConfig } from '@berth/config';
import { createTestDatabase, type TestDatabase } from '@berth/testing';
import type { NestExpressApplication } from '@nestjs/platform-express';
// The real-client tests need registries, credentials and principals made the
// way users make them: through the management API over HTTP. Tests may start
// both apps in one process; the apps themselves never import each other.
import { createManagementApp } from '../../../../apps/management-api/src/app.factory';
import { createRegistryServer, type RegistryServer } from '../../../../apps/registry/src/registry-server';

export const CLIENTS_DOMAIN = 'berth.test';
const API_KEY = 'clients-e2e-bootstrap-key-0123456789';
const SECRET_KEY = 'clients-e2e-secret-key-0123456789abcdef';

export interface ApiResult<T = any> {
  status: number;
  body: T;
}

export interface ClientStack {
  config: BerthConfig;
  /** Port of the data plane on 127.0.0.1 (every registry's login server). */
  registryPort: number;
  managementUrl: string;
  /** A management API call with the operator key; JSON in and out. */
  api<T = any>(method: string, path: string, body?: unknown): Promise<ApiResult<T>>;
  /** The data plane's Prometheus metrics text. */
  registryMetrics(): Promise<string>;
  close(): Promise<void>;
}

/**
 * The management API and the data plane in this process, both on port 0,
 * sharing one fresh database and one configuration (storage settings from
 * `storageEnv`).
 */
export async function startClientStack(storageEnv: Record<string, string>): Promise<ClientStack> {
  const database: TestDatabase = await createTestDatabase();
  let management: NestExpressApplication | undefined;
  let registry: RegistryServer | undefined;
  const close = async () => {
    await registry?.close();
    await management?.close();
    await database.drop();
  };
  try {
    const config = loadConfig({
      NODE_ENV: 'test',
      DATABASE_URL: database.url,
      BERTH_API_KEY: API_KEY,
      BERTH_SECRET_KEY: SECRET_KEY,
      BERTH_DOMAIN: CLIENTS_DOMAIN,
      LOG_LEVEL: 'warn',
      ...storageEnv,
    });
    management = await createManagementApp(config);
    await management.listen(0, '127.0.0.1');
    const managementUrl = `http://127.0.0.1:${(management.getHttpServer().address() as AddressInfo).port}`;

    registry = await createRegistryServer(config, { redisKeyPrefix: `test:clients:${randomUUID()}:` });
    const server = registry.server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const registryPort = (server.address() as AddressInfo).port;

    return {
      config,
      registryPort,
      managementUrl,
      async api(method, path, body) {
        const response = await fetch(`${managementUrl}${path}`, {
          method,
          headers: { authorization: `Bearer ${API_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        const text = await response.text();
        return { status: response.status, body: text && /json/.test(response.headers.get('content-type') ?? '') ? JSON.parse(text) : text };
      },
      async registryMetrics() {
        const response = await fetch(`http://127.0.0.1:${registryPort}/metrics`);
        return response.text();
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
