// Shared set-up of the management API's end-to-end tests: a fresh migrated
// database per test file, the app on an ephemeral port, and a small fetch
// wrapper. The app's JSON log is captured in memory so tests can inspect it.
import type { AddressInfo } from 'node:net';
import { loadConfig, type BerthConfig } from '@berth/config';
import { createDb, type Db } from '@berth/db';
import { createTestDatabase, type TestDatabase } from '@berth/testing';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { createManagementApp } from '../src/app.factory';

export const BOOTSTRAP_KEY = 'test-bootstrap-key-0123456789abcdef';
export const SECRET_KEY = 'test-secret-key-0123456789abcdef0123456789';
export const DOMAIN = 'berth.test';

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export interface RequestOptions {
  body?: unknown;
  /** Sent as is (with the given content type), instead of JSON-encoding `body`. */
  rawBody?: string | Buffer;
  /** API key to send; null sends no Authorization header. */
  key?: string | null;
  headers?: Record<string, string>;
}

export interface TestApp {
  url: string;
  config: BerthConfig;
  /** A separate client on the test database, for assertions on stored rows. */
  db: Db;
  database: TestDatabase;
  /** Every JSON log line the app wrote. */
  logs: string[];
  app: NestExpressApplication;
  request<T = any>(method: string, path: string, options?: RequestOptions): Promise<ApiResponse<T>>;
  close(): Promise<void>;
}

export async function startTestApp(env: Record<string, string> = {}): Promise<TestApp> {
  const database = await createTestDatabase();
  const config = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: database.url,
    BERTH_API_KEY: BOOTSTRAP_KEY,
    BERTH_SECRET_KEY: SECRET_KEY,
    BERTH_DOMAIN: DOMAIN,
    LOG_LEVEL: 'info',
    ...env,
  });
  const logs: string[] = [];
  const app = await createManagementApp(config, { logDestination: { write: (line: string) => void logs.push(line) } });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const db = createDb(database.url, { maxConnections: 2 });

  async function request<T>(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    const key = options.key === undefined ? BOOTSTRAP_KEY : options.key;
    if (key !== null) headers.authorization ??= `Bearer ${key}`;
    let body: string | Buffer | undefined;
    if (options.rawBody !== undefined) {
      body = options.rawBody;
    } else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    const response = await fetch(`${url}${path}`, { method, headers, body });
    const text = await response.text();
    let parsed: unknown = text;
    if (/json/.test(response.headers.get('content-type') ?? '') && text !== '') parsed = JSON.parse(text);
    return { status: response.status, headers: response.headers, body: parsed as T, text };
  }

  return {
    url,
    config,
    db,
    database,
    logs,
    app,
    request,
    async close() {
      await app.close();
      await db.$disconnect();
      await database.drop();
    },
  };
}

/** A problem-details response: asserts the media type and returns the body. */
export function expectProblem(response: ApiResponse, status: number): any {
  expect({ status: response.status, body: response.body }).toMatchObject({ status, body: { status } });
  expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(response.body).toEqual(
    expect.objectContaining({ type: expect.any(String), title: expect.any(String), detail: expect.any(String), instance: expect.any(String) }),
  );
  return response.body;
}

/** The fields named in a 400's `errors`. */
export function errorFields(response: ApiResponse): string[] {
  return ((response.body?.errors ?? []) as { field: string }[]).map((e) => e.field);
}
