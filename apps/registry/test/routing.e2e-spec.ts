import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createBlobStore, StorageError, type BlobStore } from '@berth/storage';
import { createRegistryServer } from '../src/registry-server';
import { errorCode, RegistryClient } from './support/client';
import { startHarness, TEST_DOMAIN, type Harness } from './support/harness';
import { pushBlob, testBlob } from './support/oci';
import { seedRegistry, type SeededRegistry } from './support/seed';

/** Sends a request with `Expect: 100-continue` and reports whether the server invited the body. */
function expectContinue(port: number, path: string, headers: Record<string, string>, body: Buffer): Promise<{ status: number; continued: boolean }> {
  return new Promise((resolve, reject) => {
    let continued = false;
    const req = http.request({ host: '127.0.0.1', port, method: 'PATCH', path, headers: { ...headers, expect: '100-continue', 'content-length': body.length }, agent: false });
    req.on('continue', () => {
      continued = true;
      req.end(body);
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, continued }));
      if (!continued) req.destroy();
    });
    req.on('error', (error) => (continued ? reject(error) : undefined));
    req.flushHeaders();
  });
}

describe('routing, naming and operational endpoints', () => {
  let h: Harness;
  let reg: SeededRegistry;
  let c: RegistryClient;

  beforeAll(async () => {
    h = await startHarness();
    reg = await seedRegistry(h.db, h.config, { name: 'routereg' });
    c = h.client('routereg', { basic: reg.admin });
  });

  afterAll(async () => {
    await h?.close();
  });

  it('selects the registry by Host, case-insensitively and with a port', async () => {
    for (const host of ['routereg.berth.test', 'ROUTEREG.Berth.Test:5000', 'routereg.berth.test.']) {
      expect((await c.get('/v2/', { host })).status).toBe(200);
    }
  });

  it('answers unknown hosts with a 404 OCI error and never another registry', async () => {
    for (const host of ['nosuch.berth.test', '127.0.0.1', 'routereg.other.test', 'a.routereg.berth.test', 'berth.test', '']) {
      const res = await c.get('/v2/', { host });
      expect(res.status).toBe(404);
      expect(errorCode(res)).toBe('NAME_UNKNOWN');
    }
  });

  it('stops serving a registry that is being deleted', async () => {
    const doomed = await seedRegistry(h.db, h.config, { name: 'doomedreg' });
    const d = h.client('doomedreg', { basic: doomed.admin });
    await pushBlob(d, 'app', testBlob('doomed'));
    expect((await d.get('/v2/')).status).toBe(200);
    await h.db.registry.update({ where: { id: doomed.id }, data: { provisioningState: 'Deleting' } });
    const res = await d.get(`/v2/app/blobs/${testBlob('doomed').digest}`);
    expect(res.status).toBe(404);
    expect(errorCode(res)).toBe('NAME_UNKNOWN');
    expect((await d.get('/oauth2/token')).status).toBe(404);
  });

  it('rejects invalid repository names with NAME_INVALID', async () => {
    for (const name of ['../x', 'Upper/case', 'a//b', 'a/', '-a', 'a..b', `${'a'.repeat(240)}`]) {
      const res = await c.get(`/v2/${name}/tags/list`);
      expect(res.status).toBe(400);
      expect(errorCode(res)).toBe('NAME_INVALID');
      const upload = await c.post(`/v2/${name}/blobs/uploads/`);
      expect(upload.status).toBe(400);
    }
  });

  it('answers unknown endpoints with 404 and wrong methods with 405, both as OCI errors', async () => {
    const unknown = await c.get('/v2/app/nothing/here');
    expect(unknown.status).toBe(404);
    expect(errorCode(unknown)).toBe('UNSUPPORTED');
    expect((await c.get('/elsewhere')).status).toBe(404);
    const method = await c.patch('/v2/app/manifests/latest', { body: '{}' });
    expect(method.status).toBe(405);
    expect(errorCode(method)).toBe('UNSUPPORTED');
    expect(method.header('allow')).toBe('GET, HEAD, PUT, DELETE');
  });

  it('echoes a sane X-Request-Id and makes one up otherwise', async () => {
    const given = await c.get('/v2/', { headers: { 'x-request-id': 'abc-123' } });
    expect(given.header('x-request-id')).toBe('abc-123');
    const replaced = await c.get('/v2/', { headers: { 'x-request-id': 'bad id with spaces' } });
    expect(replaced.header('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('has its minimum of database connections open before the first request', async () => {
    // Another harness may share the server: count only this test database's backends.
    const rows = await h.db.$queryRaw<Array<{ app: string; n: bigint }>>`
      SELECT application_name AS "app", count(*) AS "n" FROM pg_stat_activity
      WHERE datname = current_database() AND application_name LIKE 'berth-registry%' GROUP BY 1`;
    const counts = Object.fromEntries(rows.map((row) => [row.app, Number(row.n)]));
    expect(h.config.registryDbMinConnections).toBe(4);
    expect(counts['berth-registry']).toBeGreaterThanOrEqual(4);
    expect(counts['berth-registry-uploads']).toBeGreaterThanOrEqual(4);
  });

  it('serves /healthz and /metrics on any host', async () => {
    const health = await c.get('/healthz', { host: 'anything' });
    expect(health.status).toBe(200);
    expect(health.json()).toEqual({ status: 'ok' });
    await pushBlob(c, 'metrics/app', testBlob('metered'));
    await c.get(`/v2/metrics/app/blobs/${testBlob('metered').digest}`);
    // Counters are updated when the server sees the response finish, which may trail the client by a moment.
    let text = '';
    for (let attempt = 0; attempt < 20 && !/berth_registry_bytes_pulled_total [1-9]/.test(text); attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 50));
      const metrics = await c.get('/metrics', { host: 'anything' });
      expect(metrics.status).toBe(200);
      text = metrics.text();
    }
    expect(text).toMatch(/berth_registry_http_requests_total\{route="blob\.get",method="GET",status="200"\} \d+/);
    expect(text).toMatch(/berth_registry_http_request_duration_seconds_bucket\{le="[^"]+",route="upload\.start",method="POST"\}/);
    expect(text).toMatch(/berth_registry_bytes_pushed_total [1-9]/);
    expect(text).toMatch(/berth_registry_bytes_pulled_total [1-9]/);
  });

  it('asks for the body (100 Continue) only once the request is accepted', async () => {
    const start = await c.post('/v2/continue/app/blobs/uploads/');
    const location = start.header('location')!;
    const host = `routereg.${TEST_DOMAIN}`;
    const refused = await expectContinue(h.port, location, { host }, Buffer.from('abc'));
    expect(refused).toEqual({ status: 401, continued: false });
    const authorization = `Basic ${Buffer.from(reg.admin.join(':')).toString('base64')}`;
    const accepted = await expectContinue(h.port, location, { host, authorization }, Buffer.from('abc'));
    expect(accepted).toEqual({ status: 202, continued: true });
  });

  it('turns unexpected failures into 500 UNKNOWN with the request id, and storage outages into 503', async () => {
    const real = await createBlobStore(h.config.storage);
    const failing = (error: Error): BlobStore =>
      new Proxy(real, {
        get(target, property, receiver) {
          // Both ways of reading bytes fail (the filesystem driver serves downloads through copyTo).
          if (property === 'read' || property === 'copyTo') return async () => { throw error; };
          return Reflect.get(target, property, receiver);
        },
      });
    const blob = testBlob('unreadable');
    await pushBlob(c, 'broken/app', blob);
    for (const [store, status, code] of [
      [failing(new Error('boom')), 500, 'UNKNOWN'],
      [failing(new StorageError('Unavailable', 'down', 'filesystem')), 503, 'UNAVAILABLE'],
    ] as const) {
      const server = await createRegistryServer(h.config, { redis: null, blobStore: store });
      await new Promise<void>((resolve) => server.server.listen(0, '127.0.0.1', resolve));
      try {
        const client = new RegistryClient((server.server.address() as AddressInfo).port, `routereg.${TEST_DOMAIN}`, { basic: reg.admin });
        const res = await client.get(`/v2/broken/app/blobs/${blob.digest}`, { headers: { 'x-request-id': 'req-500' } });
        expect(res.status).toBe(status);
        expect(errorCode(res)).toBe(code);
        expect(res.json().errors[0].detail).toEqual({ requestId: 'req-500' });
        // The server keeps serving.
        expect((await client.get('/v2/')).status).toBe(200);
      } finally {
        await server.close();
      }
    }
  });
});
