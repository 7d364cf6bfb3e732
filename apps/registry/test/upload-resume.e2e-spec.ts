import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { digestOf } from '@berth/oci';
import { createRegistryServer, type RegistryServer } from '../src/registry-server';
import { errorCode, RegistryClient } from './support/client';
import { startHarness, TEST_DOMAIN, type Harness } from './support/harness';
import { seedRegistry, type SeededRegistry } from './support/seed';

describe('chunked uploads across restarts and replicas', () => {
  let h: Harness;
  let reg: SeededRegistry;

  beforeAll(async () => {
    h = await startHarness();
    reg = await seedRegistry(h.db, h.config, { name: 'resumereg' });
  });

  afterAll(async () => {
    await h?.close();
  });

  const client = () => h.client('resumereg', { basic: reg.admin });

  it('continues an upload on a new server instance after a restart between chunks', async () => {
    const data = randomBytes(300_000);
    const digest = digestOf(data);
    const start = await client().post('/v2/resume/app/blobs/uploads/');
    const location = start.header('location')!;
    const first = await client().patch(location, { body: data.subarray(0, 100_000), headers: { 'content-range': '0-99999' } });
    expect(first.status).toBe(202);

    await h.restart(); // fresh process memory: the running digest is gone

    const second = await client().patch(location, { body: data.subarray(100_000, 200_000), headers: { 'content-range': '100000-199999' } });
    expect(second.status).toBe(202);
    expect(second.header('range')).toBe('0-199999');
    const done = await client().put(`${location}?digest=${digest}`, { body: data.subarray(200_000) });
    expect(done.status).toBe(201);
    const get = await client().get(`/v2/resume/app/blobs/${digest}`);
    expect(get.body.equals(data)).toBe(true);
  });

  it('verifies the digest by re-reading storage when the restart happens right before the final PUT', async () => {
    const data = randomBytes(50_000);
    const start = await client().post('/v2/resume/final/blobs/uploads/');
    const location = start.header('location')!;
    await client().patch(location, { body: data.subarray(0, 20_000) });
    await client().patch(location, { body: data.subarray(20_000) });
    await h.restart();
    const wrong = await client().put(`${location}?digest=${digestOf('something else')}`);
    expect(wrong.status).toBe(400);
    expect(errorCode(wrong)).toBe('DIGEST_INVALID');
    expect((await client().get(location)).status).toBe(404);

    const again = await client().post('/v2/resume/final/blobs/uploads/');
    await client().patch(again.header('location')!, { body: data });
    await h.restart();
    const done = await client().put(`${again.header('location')}?digest=${digestOf(data)}`);
    expect(done.status).toBe(201);
    expect((await client().get(`/v2/resume/final/blobs/${digestOf(data)}`)).body.equals(data)).toBe(true);
  });

  it('rolls back a chunk the client abandons halfway, so the upload continues at the acknowledged offset', async () => {
    const data = randomBytes(200_000);
    const start = await client().post('/v2/resume/abort/blobs/uploads/');
    const location = start.header('location')!;
    await client().patch(location, { body: data.subarray(0, 50_000) });
    // Announce 150,000 bytes, send 60,000, then drop the connection.
    await new Promise<void>((resolve) => {
      const req = http.request({
        host: '127.0.0.1',
        port: h.port,
        method: 'PATCH',
        path: location,
        agent: false,
        headers: { host: `resumereg.${TEST_DOMAIN}`, authorization: `Basic ${Buffer.from(reg.admin.join(':')).toString('base64')}`, 'content-length': 150_000 },
      });
      req.on('error', () => resolve());
      req.write(data.subarray(50_000, 110_000), () => setTimeout(() => req.destroy(), 100));
      req.on('close', () => resolve());
    });
    let range: string | undefined;
    for (let attempt = 0; attempt < 20 && range !== '0-49999'; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      range = (await client().get(location)).header('range');
    }
    expect(range).toBe('0-49999');
    // The server notices the abort asynchronously; once it has rolled the partial chunk back, the retry succeeds.
    let status = 0;
    for (let attempt = 0; attempt < 20 && status !== 202; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 50));
      status = (await client().patch(location, { body: data.subarray(50_000), headers: { 'content-range': '50000-199999' } })).status;
    }
    expect(status).toBe(202);
    const done = await client().put(`${location}?digest=${digestOf(data)}`);
    expect(done.status).toBe(201);
    expect((await client().get(`/v2/resume/abort/blobs/${digestOf(data)}`)).body.equals(data)).toBe(true);
  });

  it('lets consecutive chunks hit different replicas', async () => {
    const replica: RegistryServer = await createRegistryServer(h.config, { redis: h.redis, redisKeyPrefix: h.redisKeyPrefix });
    await new Promise<void>((resolve) => replica.server.listen(0, '127.0.0.1', resolve));
    try {
      const a = client();
      const b = new RegistryClient((replica.server.address() as AddressInfo).port, `resumereg.${TEST_DOMAIN}`, { basic: reg.admin });
      const data = randomBytes(40_000);
      const start = await a.post('/v2/replicas/app/blobs/uploads/');
      const location = start.header('location')!;
      expect((await a.patch(location, { body: data.subarray(0, 10_000), headers: { 'content-range': '0-9999' } })).status).toBe(202);
      expect((await b.patch(location, { body: data.subarray(10_000, 20_000), headers: { 'content-range': '10000-19999' } })).status).toBe(202);
      // A still holds a running digest at offset 10,000: it must not use it.
      expect((await a.patch(location, { body: data.subarray(20_000, 30_000), headers: { 'content-range': '20000-29999' } })).status).toBe(202);
      expect((await b.get(location)).header('range')).toBe('0-29999');
      // Finishing on A uses A's running digest: right only if chunk 3 was hashed on top of the stored prefix.
      const done = await a.put(`${location}?digest=${digestOf(data)}`, { body: data.subarray(30_000) });
      expect(done.status).toBe(201);
      expect((await b.get(`/v2/replicas/app/blobs/${digestOf(data)}`)).body.equals(data)).toBe(true);
    } finally {
      await replica.close();
    }
  });
});
