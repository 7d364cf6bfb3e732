import type { AddressInfo } from 'node:net';
import { readdir } from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import Redis from 'ioredis';
import { digestOf } from '@berth/oci';
import { createRegistryServer } from '../src/registry-server';
import { errorCode, RegistryClient } from './support/client';
import { startHarness, TEST_DOMAIN, type Harness } from './support/harness';
import { pushBlob, testBlob } from './support/oci';
import { seedRegistry } from './support/seed';

const BASIC_INCLUDED = 10737418240n;

async function countFiles(dir: string): Promise<number> {
  let count = 0;
  const walk = async (current: string): Promise<void> => {
    const entries = await readdir(current, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      if (entry.isDirectory()) await walk(path.join(current, entry.name));
      else count++;
    }
  };
  await walk(dir);
  return count;
}

describe('SKU limits', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
  });

  afterAll(async () => {
    await h?.close();
  });

  describe('storage quota', () => {
    it('refuses to start an upload when the registry is already over its quota', async () => {
      const reg = await seedRegistry(h.db, h.config, { name: 'fullreg', sku: 'Basic', storageUsedBytes: BASIC_INCLUDED });
      const c = h.client('fullreg', { basic: reg.admin });
      const res = await c.post('/v2/app/blobs/uploads/');
      expect(res.status).toBe(403);
      expect(errorCode(res)).toBe('DENIED');
      expect(res.json().errors[0].message).toMatch(/storage quota exceeded.*10737418240 bytes included in the Basic SKU/);
      const single = testBlob('x');
      const mono = await c.post(`/v2/app/blobs/uploads/?digest=${single.digest}`, { body: single.data });
      expect(mono.status).toBe(403);
      expect(await h.db.upload.count({ where: { registryId: reg.id } })).toBe(0);
      expect(await countFiles(path.join(h.storagePath, 'registries', reg.id))).toBe(0);
    });

    it('refuses the blob that would cross the quota at commit, leaving nothing behind', async () => {
      const reg = await seedRegistry(h.db, h.config, { name: 'nearreg', sku: 'Basic', storageUsedBytes: BASIC_INCLUDED - 10n });
      const c = h.client('nearreg', { basic: reg.admin });
      const big = testBlob(Buffer.alloc(64, 1));
      const start = await c.post('/v2/app/blobs/uploads/');
      expect(start.status).toBe(202);
      await c.patch(start.header('location')!, { body: big.data });
      const res = await c.put(`${start.header('location')}?digest=${big.digest}`);
      expect(res.status).toBe(403);
      expect(errorCode(res)).toBe('DENIED');
      expect(res.json().errors[0].message).toContain('storage quota exceeded');
      expect(await h.db.blob.count({ where: { registryId: reg.id } })).toBe(0);
      expect(await h.db.upload.count({ where: { registryId: reg.id } })).toBe(0);
      expect(await countFiles(path.join(h.storagePath, 'registries', reg.id))).toBe(0);

      const small = testBlob('12345');
      await pushBlob(c, 'app', small);
      const usage = (await h.db.registry.findUniqueOrThrow({ where: { id: reg.id } })).storageUsedBytes;
      expect(usage).toBe(BASIC_INCLUDED - 5n);
      // Linking an existing blob adds no usage, so it is still allowed... but starting a new upload is not.
      expect((await c.post(`/v2/other/blobs/uploads/?mount=${small.digest}&from=app`)).status).toBe(201);
    });
  });

  describe('layer size', () => {
    beforeAll(async () => {
      await h.db.sku.update({ where: { name: 'Premium' }, data: { maxLayerBytes: 100n } });
    });

    afterAll(async () => {
      await h.db.sku.update({ where: { name: 'Premium' }, data: { maxLayerBytes: 214748364800n } });
    });

    it('refuses a chunk whose Content-Length would exceed the limit, and drops the upload', async () => {
      const reg = await seedRegistry(h.db, h.config, { name: 'layerreg', sku: 'Premium' });
      const c = h.client('layerreg', { basic: reg.admin });
      const start = await c.post('/v2/app/blobs/uploads/');
      const location = start.header('location')!;
      expect((await c.patch(location, { body: Buffer.alloc(60) })).status).toBe(202);
      const res = await c.patch(location, { body: Buffer.alloc(60) });
      expect(res.status).toBe(403);
      expect(errorCode(res)).toBe('DENIED');
      expect(res.json().errors[0].message).toMatch(/layer size limit exceeded.*at most 100 bytes/);
      expect((await c.get(location)).status).toBe(404);
      expect(await countFiles(path.join(h.storagePath, 'registries', reg.id))).toBe(0);
    });

    it('stops a streamed chunk (no Content-Length) once it crosses the limit', async () => {
      const reg = await seedRegistry(h.db, h.config, { name: 'streamreg', sku: 'Premium' });
      const c = h.client('streamreg', { basic: reg.admin });
      const start = await c.post('/v2/app/blobs/uploads/');
      const location = start.header('location')!;
      const res = await c.patch(location, { body: Readable.from([Buffer.alloc(80), Buffer.alloc(80)]) });
      expect(res.status).toBe(403);
      expect(res.json().errors[0].detail).toMatchObject({ limit: 'maxLayerBytes' });
      expect((await c.get(location)).status).toBe(404);
      expect(await countFiles(path.join(h.storagePath, 'registries', reg.id))).toBe(0);
      const mono = await c.post(`/v2/app/blobs/uploads/?digest=${digestOf(Buffer.alloc(200))}`, { body: Buffer.alloc(200) });
      expect(mono.status).toBe(403);
    });
  });

  describe('operations per minute', () => {
    it('answers 429 TOOMANYREQUESTS with Retry-After past the SKU read budget, counting writes separately', async () => {
      await h.db.sku.update({ where: { name: 'Basic' }, data: { readOpsPerMinute: 5, writeOpsPerMinute: 3 } });
      try {
        const reg = await seedRegistry(h.db, h.config, { name: 'busyreg', sku: 'Basic' });
        const c = h.client('busyreg', { basic: reg.admin });
        const blob = testBlob('rate');
        const statuses: number[] = [];
        for (let i = 0; i < 7; i++) statuses.push((await c.head(`/v2/app/blobs/${blob.digest}`)).status);
        expect(statuses.slice(0, 5)).toEqual([404, 404, 404, 404, 404]);
        expect(statuses.slice(5)).toEqual([429, 429]);
        const limited = await c.get(`/v2/app/blobs/${blob.digest}`);
        expect(limited.status).toBe(429);
        expect(errorCode(limited)).toBe('TOOMANYREQUESTS');
        const retryAfter = Number(limited.header('retry-after'));
        expect(retryAfter).toBeGreaterThanOrEqual(1);
        expect(retryAfter).toBeLessThanOrEqual(60);
        // Writes have their own budget; the ping and the token endpoint are not counted.
        expect((await c.post('/v2/app/blobs/uploads/')).status).toBe(202);
        expect((await c.get('/v2/')).status).toBe(200);
        expect((await c.get('/oauth2/token')).status).toBe(200);
        // Other registries are unaffected.
        const other = await seedRegistry(h.db, h.config, { name: 'calmreg', sku: 'Basic' });
        expect((await h.client('calmreg', { basic: other.admin }).head(`/v2/app/blobs/${blob.digest}`)).status).toBe(404);
      } finally {
        await h.db.sku.update({ where: { name: 'Basic' }, data: { readOpsPerMinute: 1000, writeOpsPerMinute: 100 } });
      }
    });

    it('fails open when Redis is unreachable', async () => {
      await h.db.sku.update({ where: { name: 'Basic' }, data: { readOpsPerMinute: 1 } });
      const deadRedis = new Redis('redis://127.0.0.1:1', { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 100, disconnectTimeout: 10 });
      deadRedis.on('error', () => undefined);
      const server = await createRegistryServer(h.config, { redis: deadRedis });
      await new Promise<void>((resolve) => server.server.listen(0, '127.0.0.1', resolve));
      try {
        const reg = await seedRegistry(h.db, h.config, { name: 'noredisreg', sku: 'Basic' });
        const c = new RegistryClient((server.server.address() as AddressInfo).port, `noredisreg.${TEST_DOMAIN}`, { basic: reg.admin });
        const blob = testBlob('fail open');
        await pushBlob(c, 'app', blob);
        for (let i = 0; i < 3; i++) expect((await c.get(`/v2/app/blobs/${blob.digest}`)).status).toBe(200);
      } finally {
        await server.close();
        deadRedis.disconnect();
        await h.db.sku.update({ where: { name: 'Basic' }, data: { readOpsPerMinute: 1000 } });
      }
    });
  });
});
