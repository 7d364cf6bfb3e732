// Cross-cutting behaviour: API keys, problem details for framework errors,
// correlation ids, health, readiness, metrics and the OpenAPI document.
import { BOOTSTRAP_KEY, TestApp, errorFields, expectProblem, startTestApp } from './harness';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

describe('API keys', () => {
  it('answers 401 problem details with WWW-Authenticate for missing, malformed and wrong keys', async () => {
    const attempts: (string | null)[] = [null, 'berth_zz', `${BOOTSTRAP_KEY}x`, 'berth_0123456789ab_' + 'A'.repeat(43)];
    for (const key of attempts) {
      const res = await t.request('GET', '/api/v1/registries', { key });
      const problem = expectProblem(res, 401);
      expect(problem.code).toBe('UNAUTHENTICATED');
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
    }
    for (const authorization of ['Basic dXNlcjpwYXNz', 'Bearer', `Token ${BOOTSTRAP_KEY}`]) {
      expectProblem(await t.request('GET', '/api/v1/skus', { headers: { authorization } }), 401);
    }
    // Authentication comes before validation: no hint about the body without a key.
    expectProblem(await t.request('POST', '/api/v1/registries', { key: null, body: { name: 'x' } }), 401);
  });

  it('creates keys that work, lists them without the key, and revokes them', async () => {
    const created = await t.request('POST', '/api/v1/api-keys', { body: { name: 'ci' } });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      id: expect.any(String),
      name: 'ci',
      prefix: expect.stringMatching(/^[0-9a-f]{12}$/),
      key: expect.stringMatching(/^berth_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/),
      createdAt: expect.any(String),
      lastUsedAt: null,
      revokedAt: null,
    });
    const key: string = created.body.key;
    expect(key.startsWith(`berth_${created.body.prefix}_`)).toBe(true);

    expect((await t.request('GET', '/api/v1/skus', { key })).status).toBe(200);
    const list = await t.request('GET', '/api/v1/api-keys', { key });
    expect(list.status).toBe(200);
    expect(list.text).not.toContain(key);
    const listed = list.body.value.find((k: { id: string }) => k.id === created.body.id);
    expect(listed).toMatchObject({ name: 'ci', prefix: created.body.prefix, revokedAt: null, lastUsedAt: expect.any(String) });
    expect(listed.key).toBeUndefined();

    const rows = await t.db.$queryRaw<Record<string, unknown>[]>`SELECT * FROM "ApiKey"`;
    // The secret part may itself contain '_': take everything after the prefix.
    expect(JSON.stringify(rows)).not.toContain(key.slice(`berth_${created.body.prefix}_`.length));

    // A key with the right prefix but a wrong secret part is refused.
    const forged = `berth_${created.body.prefix}_${'B'.repeat(43)}`;
    expectProblem(await t.request('GET', '/api/v1/skus', { key: forged }), 401);

    expect((await t.request('DELETE', `/api/v1/api-keys/${created.body.id}`)).status).toBe(204);
    const revoked = expectProblem(await t.request('GET', '/api/v1/skus', { key }), 401);
    expect(revoked.detail).toContain('revoked');
    const after = await t.request('GET', '/api/v1/api-keys');
    expect(after.body.value.find((k: { id: string }) => k.id === created.body.id).revokedAt).toEqual(expect.any(String));
    expect((await t.request('DELETE', `/api/v1/api-keys/${created.body.id}`)).status).toBe(204);
  });

  it('validates key creation and answers 404 for unknown keys', async () => {
    expect(errorFields(await t.request('POST', '/api/v1/api-keys', { body: {} }))).toEqual(['name']);
    expect(errorFields(await t.request('POST', '/api/v1/api-keys', { body: { name: 'x'.repeat(101) } }))).toEqual(['name']);
    expectProblem(await t.request('DELETE', '/api/v1/api-keys/00000000-0000-0000-0000-000000000000'), 404);
    expectProblem(await t.request('DELETE', '/api/v1/api-keys/not-a-uuid'), 404);
  });

  it('never writes keys to the log', () => {
    const log = t.logs.join('');
    expect(log.length).toBeGreaterThan(0);
    expect(log).not.toContain(BOOTSTRAP_KEY);
    expect(log).not.toMatch(/berth_[0-9a-f]{12}_/);
  });
});

describe('request errors', () => {
  it('answers malformed JSON with a 400 problem', async () => {
    const res = await t.request('POST', '/api/v1/registries', { rawBody: '{"name": "broken",', headers: { 'content-type': 'application/json' } });
    expect(expectProblem(res, 400).code).toBe('MALFORMED_JSON');
  });

  it('answers a body over 1 MiB with a 413 problem', async () => {
    const body = JSON.stringify({ name: 'bigregistry', padding: 'x'.repeat(1024 * 1024) });
    const res = await t.request('POST', '/api/v1/registries', { rawBody: body, headers: { 'content-type': 'application/json' } });
    expect(expectProblem(res, 413).code).toBe('PAYLOAD_TOO_LARGE');
    expect(await t.db.registry.count({ where: { name: 'bigregistry' } })).toBe(0);
  });

  it('answers a non-JSON body with 415 and a JSON array with 400', async () => {
    const form = await t.request('POST', '/api/v1/registries', { rawBody: 'name=formreg', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(expectProblem(form, 415).code).toBe('UNSUPPORTED_MEDIA_TYPE');
    const array = await t.request('POST', '/api/v1/registries', { body: [{ name: 'arrayreg' }] });
    expect(errorFields(array)).toEqual(['body']);
  });

  it('answers unknown routes with a 404 problem', async () => {
    for (const [method, path] of [['GET', '/api/v1/nothing-here'], ['GET', '/nope'], ['PUT', '/api/v1/registries']]) {
      expect(expectProblem(await t.request(method!, path!), 404).code).toBe('ROUTE_NOT_FOUND');
    }
  });

  it('echoes an acceptable X-Request-Id and makes one up otherwise', async () => {
    const given = await t.request('GET', '/healthz', { headers: { 'x-request-id': 'trace-abc_123' } });
    expect(given.headers.get('x-request-id')).toBe('trace-abc_123');
    const replaced = await t.request('GET', '/healthz', { headers: { 'x-request-id': 'bad id with spaces' } });
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const fresh = await t.request('GET', '/api/v1/skus');
    expect(fresh.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers an unexpected error with a 500 whose correlation id is in the log', async () => {
    await t.db.$executeRawUnsafe('ALTER TABLE "Sku" RENAME TO "Sku_hidden"');
    try {
      const res = await t.request('GET', '/api/v1/skus');
      const problem = expectProblem(res, 500);
      expect(problem.correlationId).toEqual(expect.any(String));
      expect(res.headers.get('x-request-id')).toBe(problem.correlationId);
      expect(problem.detail).not.toMatch(/Sku_hidden|does not exist|prisma/i);
      const line = t.logs.map((l) => JSON.parse(l)).find((l) => l.level === 50 && l.correlationId === problem.correlationId);
      expect(line).toMatchObject({ msg: 'unexpected error', path: '/api/v1/skus', err: expect.any(Object) });
    } finally {
      await t.db.$executeRawUnsafe('ALTER TABLE "Sku_hidden" RENAME TO "Sku"');
    }
    expect((await t.request('GET', '/api/v1/skus')).status).toBe(200);
  });
});

describe('health, metrics and documentation', () => {
  it('serves /healthz and /readyz without a key', async () => {
    const health = await t.request('GET', '/healthz', { key: null });
    expect(health.status).toBe(200);
    expect(health.body).toEqual({ status: 'ok' });
    const ready = await t.request('GET', '/readyz', { key: null });
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'ok', checks: { postgres: 'ok', redis: 'ok' } });
  });

  it('exports request metrics by route template', async () => {
    await t.request('GET', '/api/v1/registries/some-registry-name');
    const res = await t.request('GET', '/metrics', { key: null });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(res.text).toMatch(/berth_http_requests_total\{[^}]*method="GET"[^}]*route="\/api\/v1\/registries\/:registryName"[^}]*status="404"[^}]*\} [1-9]/);
    expect(res.text).toContain('berth_http_request_duration_seconds_bucket');
    expect(res.text).not.toContain('some-registry-name');
  });

  it('publishes the OpenAPI document with every resource, bearer auth and DTO schemas', async () => {
    const res = await t.request('GET', '/docs-json', { key: null });
    expect(res.status).toBe(200);
    const doc = res.body;
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.components.securitySchemes['api-key']).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.components.securitySchemes['owner-principal']).toMatchObject({ type: 'http', scheme: 'basic' });
    // Owner principals are offered on the routes of one registry, not on operator-wide ones.
    const schemes = (path: string, method: string) => (doc.paths[path][method].security as Array<Record<string, unknown>>).flatMap((s) => Object.keys(s));
    expect(schemes('/api/v1/registries/{registryName}/webhooks', 'get')).toEqual(expect.arrayContaining(['api-key', 'owner-principal']));
    expect(schemes('/api/v1/registries/{registryName}', 'delete')).toEqual(expect.arrayContaining(['api-key', 'owner-principal']));
    expect(schemes('/api/v1/registries', 'post')).toEqual(['api-key']);
    for (const path of [
      '/api/v1/registries',
      '/api/v1/registries/{registryName}',
      '/api/v1/registries/check-name-availability',
      '/api/v1/skus',
      '/api/v1/registries/{registryName}/credentials',
      '/api/v1/registries/{registryName}/credentials/regenerate',
      '/api/v1/registries/{registryName}/usages',
      '/api/v1/registries/{registryName}/repositories',
      '/api/v1/registries/{registryName}/repositories/{repository}',
      '/api/v1/registries/{registryName}/service-principals',
      '/api/v1/registries/{registryName}/service-principals/{principalId}/secrets',
      '/api/v1/registries/{registryName}/service-principals/{principalId}/role-assignments',
      '/api/v1/registries/{registryName}/webhooks',
      '/api/v1/registries/{registryName}/webhooks/{webhookName}/callback-config',
      '/api/v1/registries/{registryName}/webhooks/{webhookName}/ping',
      '/api/v1/registries/{registryName}/webhooks/{webhookName}/events',
      '/api/v1/api-keys',
      '/api/v1/api-keys/{id}',
      '/healthz',
      '/readyz',
      '/metrics',
    ]) {
      expect(doc.paths).toHaveProperty([path]);
    }
    expect(doc.paths['/api/v1/registries'].post.security).toEqual([{ 'api-key': [] }]);
    expect(doc.components.schemas.CreateRegistryDto.properties).toHaveProperty('name');
    expect(doc.components.schemas.CreateWebhookDto.required).toEqual(expect.arrayContaining(['name', 'serviceUri', 'actions']));
    expect(doc.components.schemas).toHaveProperty('ProblemDetailsDto');
    const ui = await t.request('GET', '/docs', { key: null });
    expect(ui.status).toBe(200);
    expect(ui.text).toContain('swagger');
  });
});

describe('without a bootstrap key, and with Redis down', () => {
  let other: TestApp;
  beforeAll(async () => {
    other = await startTestApp({ BERTH_API_KEY: '', REDIS_URL: 'redis://127.0.0.1:1' });
  });
  afterAll(async () => {
    await other?.close();
  });

  it('accepts only stored keys', async () => {
    expectProblem(await other.request('GET', '/api/v1/skus'), 401);
  });

  it('reports not ready with a 503 problem naming Redis', async () => {
    const started = Date.now();
    const res = await other.request('GET', '/readyz', { key: null });
    const problem = expectProblem(res, 503);
    expect(problem.detail).toContain('Redis');
    expect(problem.detail).not.toContain('PostgreSQL');
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
