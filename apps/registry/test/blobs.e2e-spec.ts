import { readdir } from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { digestOf } from '@berth/oci';
import { errorCode, type RegistryClient } from './support/client';
import { startHarness, type Harness } from './support/harness';
import { pushBlob, testBlob } from './support/oci';
import { seedRegistry, seedServicePrincipal, type SeededRegistry } from './support/seed';

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (current: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(current, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) await walk(full);
      else out.push(full);
    }
  };
  await walk(dir);
  return out;
}

describe('blobs and uploads', () => {
  let h: Harness;
  let reg: SeededRegistry;
  let c: RegistryClient;

  beforeAll(async () => {
    h = await startHarness();
    reg = await seedRegistry(h.db, h.config, { name: 'blobreg' });
    c = h.client('blobreg', { basic: reg.admin });
  });

  afterAll(async () => {
    await h?.close();
  });

  const storedObjects = () => filesUnder(path.join(h.storagePath, 'registries', reg.id));

  describe('reading blobs', () => {
    const blob = testBlob('0123456789abcdefghij');

    beforeAll(async () => {
      await pushBlob(c, 'read/app', blob);
    });

    it('HEAD and GET return the blob with its digest and length', async () => {
      const head = await c.head(`/v2/read/app/blobs/${blob.digest}`);
      expect(head.status).toBe(200);
      expect(head.header('content-length')).toBe('20');
      expect(head.header('docker-content-digest')).toBe(blob.digest);
      expect(head.body.length).toBe(0);
      const get = await c.get(`/v2/read/app/blobs/${blob.digest}`);
      expect(get.status).toBe(200);
      expect(get.body.equals(blob.data)).toBe(true);
      expect(get.header('content-type')).toBe('application/octet-stream');
      expect(get.header('accept-ranges')).toBe('bytes');
    });

    it('serves byte ranges with 206 and refuses unsatisfiable ones with 416', async () => {
      const range = await c.get(`/v2/read/app/blobs/${blob.digest}`, { headers: { range: 'bytes=5-9' } });
      expect(range.status).toBe(206);
      expect(range.text()).toBe('56789');
      expect(range.header('content-range')).toBe('bytes 5-9/20');
      const open = await c.get(`/v2/read/app/blobs/${blob.digest}`, { headers: { range: 'bytes=15-' } });
      expect(open.status).toBe(206);
      expect(open.text()).toBe('fghij');
      const suffix = await c.get(`/v2/read/app/blobs/${blob.digest}`, { headers: { range: 'bytes=-3' } });
      expect(suffix.text()).toBe('hij');
      const clipped = await c.get(`/v2/read/app/blobs/${blob.digest}`, { headers: { range: 'bytes=18-100' } });
      expect(clipped.status).toBe(206);
      expect(clipped.text()).toBe('ij');
      for (const bad of ['bytes=20-', 'bytes=9-5', 'bytes=-0', 'bytes=-']) {
        const res = await c.get(`/v2/read/app/blobs/${blob.digest}`, { headers: { range: bad } });
        expect(res.status).toBe(416);
        expect(res.header('content-range')).toBe('bytes */20');
        expect(errorCode(res)).toBe('RANGE_INVALID');
      }
    });

    it('answers unknown, unlinked and malformed digests without leaking other repositories or registries', async () => {
      const unknown = testBlob('never pushed');
      const res = await c.get(`/v2/read/app/blobs/${unknown.digest}`);
      expect(res.status).toBe(404);
      expect(errorCode(res)).toBe('BLOB_UNKNOWN');
      expect((await c.head(`/v2/read/app/blobs/${unknown.digest}`)).status).toBe(404);
      // Same registry, other repository: not linked there.
      expect((await c.get(`/v2/other/app/blobs/${blob.digest}`)).status).toBe(404);
      // Other registry.
      const other = await seedRegistry(h.db, h.config, { name: 'otherblobreg' });
      expect((await h.client('otherblobreg', { basic: other.admin }).get(`/v2/read/app/blobs/${blob.digest}`)).status).toBe(404);
      for (const bad of ['sha256:abc', `sha256:${'A'.repeat(64)}`, 'md5:d41d8cd98f00b204e9800998ecf8427e', 'latest']) {
        const r = await c.get(`/v2/read/app/blobs/${bad}`);
        expect(r.status).toBe(400);
        expect(errorCode(r)).toBe('DIGEST_INVALID');
      }
      // Percent-encoded colon is understood.
      expect((await c.get(`/v2/read/app/blobs/${blob.digest.replace(':', '%3A')}`)).status).toBe(200);
    });

    it('DELETE unlinks the blob from one repository only', async () => {
      const shared = testBlob('shared between two repositories');
      await pushBlob(c, 'del/one', shared);
      await pushBlob(c, 'del/two', shared);
      const res = await c.delete(`/v2/del/one/blobs/${shared.digest}`);
      expect(res.status).toBe(202);
      expect((await c.get(`/v2/del/one/blobs/${shared.digest}`)).status).toBe(404);
      expect((await c.get(`/v2/del/two/blobs/${shared.digest}`)).status).toBe(200);
      const again = await c.delete(`/v2/del/one/blobs/${shared.digest}`);
      expect(again.status).toBe(404);
      expect(errorCode(again)).toBe('BLOB_UNKNOWN');
    });
  });

  describe('uploads', () => {
    it('runs a chunked upload: POST, PATCH with Content-Range, status, PATCH streamed, PUT with a final chunk', async () => {
      const data = Buffer.from('chunk-one|chunk-two|final');
      const digest = digestOf(data);
      const start = await c.post('/v2/up/chunked/blobs/uploads/');
      expect(start.status).toBe(202);
      const location = start.header('location')!;
      expect(location).toMatch(/^\/v2\/up\/chunked\/blobs\/uploads\/[0-9a-f-]{36}$/);
      expect(start.header('docker-upload-uuid')).toBe(location.split('/').pop());
      expect(start.header('range')).toBe('0-0');

      const first = await c.patch(location, { body: data.subarray(0, 10), headers: { 'content-range': '0-9', 'content-type': 'application/octet-stream' } });
      expect(first.status).toBe(202);
      expect(first.header('range')).toBe('0-9');
      expect(first.header('location')).toBe(location);

      const status = await c.get(location);
      expect(status.status).toBe(204);
      expect(status.header('range')).toBe('0-9');

      const streamed = await c.patch(location, { body: Readable.from([data.subarray(10, 15), data.subarray(15, 20)]) });
      expect(streamed.status).toBe(202);
      expect(streamed.header('range')).toBe('0-19');

      const done = await c.put(`${location}?digest=${digest}`, { body: data.subarray(20), headers: { 'content-range': '20-24' } });
      expect(done.status).toBe(201);
      expect(done.header('location')).toBe(`/v2/up/chunked/blobs/${digest}`);
      expect(done.header('docker-content-digest')).toBe(digest);
      const get = await c.get(`/v2/up/chunked/blobs/${digest}`);
      expect(get.body.equals(data)).toBe(true);
      // The session is gone once the blob exists.
      expect((await c.get(location)).status).toBe(404);
    });

    it('answers 416 with the current Range for an out-of-order or inconsistent chunk', async () => {
      const start = await c.post('/v2/up/order/blobs/uploads/');
      const location = start.header('location')!;
      await c.patch(location, { body: 'abcde', headers: { 'content-range': '0-4' } });
      for (const contentRange of ['0-4', '6-10', 'garbage']) {
        const res = await c.patch(location, { body: 'fghij', headers: { 'content-range': contentRange } });
        expect(res.status).toBe(416);
        expect(res.header('range')).toBe('0-4');
        expect(errorCode(res)).toBe('RANGE_INVALID');
      }
      const mismatch = await c.patch(location, { body: 'fgh', headers: { 'content-range': '5-9' } });
      expect(mismatch.status).toBe(416);
      // The session is intact and continues at the right offset.
      const ok = await c.patch(location, { body: 'fghij', headers: { 'content-range': 'bytes=5-9' } });
      expect(ok.status).toBe(202);
      expect(ok.header('range')).toBe('0-9');
      const done = await c.put(`${location}?digest=${digestOf('abcdefghij')}`);
      expect(done.status).toBe(201);
    });

    it('supports POST then a single PUT with the whole body, and single-request POST ?digest=', async () => {
      const blob = testBlob('monolithic body');
      const start = await c.post('/v2/up/mono/blobs/uploads/');
      const put = await c.put(`${start.header('location')}?digest=${blob.digest}`, { body: blob.data });
      expect(put.status).toBe(201);
      expect((await c.get(`/v2/up/mono/blobs/${blob.digest}`)).body.equals(blob.data)).toBe(true);

      const single = testBlob('single request');
      const res = await c.post(`/v2/up/single/blobs/uploads/?digest=${single.digest}`, { body: single.data });
      expect(res.status).toBe(201);
      expect(res.header('docker-content-digest')).toBe(single.digest);
      expect((await c.get(`/v2/up/single/blobs/${single.digest}`)).body.equals(single.data)).toBe(true);

      const empty = testBlob('');
      expect((await c.post(`/v2/up/single/blobs/uploads/?digest=${empty.digest}`, { body: '' })).status).toBe(201);
      const emptyGet = await c.get(`/v2/up/single/blobs/${empty.digest}`);
      expect(emptyGet.status).toBe(200);
      expect(emptyGet.header('content-length')).toBe('0');
    });

    it('verifies sha512 digests too', async () => {
      const data = Buffer.from('sha512 content');
      const digest = digestOf(data, 'sha512');
      const start = await c.post('/v2/up/sha512/blobs/uploads/');
      await c.patch(start.header('location')!, { body: data });
      const done = await c.put(`${start.header('location')}?digest=${digest}`);
      expect(done.status).toBe(201);
      expect((await c.get(`/v2/up/sha512/blobs/${digest}`)).body.equals(data)).toBe(true);
      const single = await c.post(`/v2/up/sha512/blobs/uploads/?digest=${digestOf('other', 'sha512')}`, { body: 'not other' });
      expect(single.status).toBe(400);
      expect(errorCode(single)).toBe('DIGEST_INVALID');
    });

    it('rejects a digest mismatch with DIGEST_INVALID and leaves nothing behind', async () => {
      const before = await storedObjects();
      const start = await c.post('/v2/up/bad/blobs/uploads/');
      const location = start.header('location')!;
      await c.patch(location, { body: 'some bytes' });
      const wrong = digestOf('other bytes');
      const res = await c.put(`${location}?digest=${wrong}`);
      expect(res.status).toBe(400);
      expect(errorCode(res)).toBe('DIGEST_INVALID');
      expect((await c.get(location)).status).toBe(404);
      expect(await storedObjects()).toEqual(before);
      expect(await h.db.blob.count({ where: { registryId: reg.id, digest: wrong } })).toBe(0);

      const single = await c.post(`/v2/up/bad/blobs/uploads/?digest=${wrong}`, { body: 'some bytes' });
      expect(single.status).toBe(400);
      expect(await storedObjects()).toEqual(before);
      expect(await h.db.upload.count({ where: { registryId: reg.id, repositoryName: 'up/bad' } })).toBe(0);
    });

    it('requires a valid digest to finish an upload', async () => {
      const start = await c.post('/v2/up/nodigest/blobs/uploads/');
      const location = start.header('location')!;
      for (const query of ['', '?digest=', '?digest=sha256:xyz']) {
        const res = await c.put(`${location}${query}`, { body: 'x' });
        expect(res.status).toBe(400);
        expect(errorCode(res)).toBe('DIGEST_INVALID');
      }
    });

    it('answers unknown, malformed and foreign upload ids with BLOB_UPLOAD_UNKNOWN', async () => {
      const start = await c.post('/v2/up/mine/blobs/uploads/');
      const id = start.header('docker-upload-uuid')!;
      for (const target of ['/v2/up/mine/blobs/uploads/00000000-0000-4000-8000-000000000000', '/v2/up/mine/blobs/uploads/not-a-uuid', `/v2/up/theirs/blobs/uploads/${id}`]) {
        const res = await c.patch(target, { body: 'x' });
        expect(res.status).toBe(404);
        expect(errorCode(res)).toBe('BLOB_UPLOAD_UNKNOWN');
        expect((await c.get(target)).status).toBe(404);
      }
    });

    it('cancels an upload with DELETE, removing its bytes', async () => {
      const before = await storedObjects();
      const start = await c.post('/v2/up/cancel/blobs/uploads/');
      const location = start.header('location')!;
      await c.patch(location, { body: 'to be cancelled' });
      expect((await storedObjects()).length).toBe(before.length + 1);
      const res = await c.delete(location);
      expect(res.status).toBe(204);
      expect((await c.get(location)).status).toBe(404);
      expect((await c.delete(location)).status).toBe(404);
      expect(await storedObjects()).toEqual(before);
    });

    it('deduplicates per registry: one blob row, one object, usage counted once', async () => {
      const blob = testBlob('deduplicated content!');
      const usageBefore = (await h.db.registry.findUniqueOrThrow({ where: { id: reg.id } })).storageUsedBytes;
      const objectsBefore = (await storedObjects()).length;
      await pushBlob(c, 'dedupe/one', blob);
      await pushBlob(c, 'dedupe/two', blob);
      const start = await c.post('/v2/dedupe/three/blobs/uploads/');
      expect((await c.put(`${start.header('location')}?digest=${blob.digest}`, { body: blob.data })).status).toBe(201);
      expect(await h.db.blob.count({ where: { registryId: reg.id, digest: blob.digest } })).toBe(1);
      expect((await storedObjects()).length).toBe(objectsBefore + 1);
      const usageAfter = (await h.db.registry.findUniqueOrThrow({ where: { id: reg.id } })).storageUsedBytes;
      expect(usageAfter - usageBefore).toBe(BigInt(blob.size));
      for (const repo of ['dedupe/one', 'dedupe/two', 'dedupe/three']) {
        expect((await c.get(`/v2/${repo}/blobs/${blob.digest}`)).body.equals(blob.data)).toBe(true);
      }
    });
  });

  it('survives concurrent uploads of the same content: every push succeeds, one blob is stored and counted', async () => {
    const blob = testBlob(Buffer.alloc(4096, 7));
    const usageBefore = (await h.db.registry.findUniqueOrThrow({ where: { id: reg.id } })).storageUsedBytes;
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => c.post(`/v2/race/r${i}/blobs/uploads/?digest=${blob.digest}`, { body: blob.data })),
    );
    expect(results.map((res) => res.status)).toEqual([201, 201, 201, 201, 201, 201]);
    expect(await h.db.blob.count({ where: { registryId: reg.id, digest: blob.digest } })).toBe(1);
    const usageAfter = (await h.db.registry.findUniqueOrThrow({ where: { id: reg.id } })).storageUsedBytes;
    expect(usageAfter - usageBefore).toBe(BigInt(blob.size));
    const blobRow = await h.db.blob.findFirstOrThrow({ where: { registryId: reg.id, digest: blob.digest } });
    const objects = (await storedObjects()).filter((file) => file.endsWith(blobRow.storageKey.split('/').pop()!));
    expect(objects).toHaveLength(1);
    expect(await h.db.upload.count({ where: { registryId: reg.id, repositoryName: { startsWith: 'race/' } } })).toBe(0);
  });

  describe('cross-repository mount', () => {
    const blob = testBlob('mount me');

    beforeAll(async () => {
      await pushBlob(c, 'mount/source', blob);
    });

    it('links the blob (201) when the caller may pull from the source', async () => {
      const res = await c.post(`/v2/mount/target/blobs/uploads/?mount=${blob.digest}&from=mount/source`);
      expect(res.status).toBe(201);
      expect(res.header('location')).toBe(`/v2/mount/target/blobs/${blob.digest}`);
      expect(res.header('docker-content-digest')).toBe(blob.digest);
      expect((await c.get(`/v2/mount/target/blobs/${blob.digest}`)).body.equals(blob.data)).toBe(true);
    });

    it('falls back to an upload session (202) when the source lacks the blob or the caller may not read it', async () => {
      const missing = await c.post(`/v2/mount/target2/blobs/uploads/?mount=${testBlob('absent').digest}&from=mount/source`);
      expect(missing.status).toBe(202);
      expect(missing.header('location')).toMatch(/\/v2\/mount\/target2\/blobs\/uploads\//);
      expect((await c.post(`/v2/mount/target2/blobs/uploads/?mount=${blob.digest}&from=../bad`)).status).toBe(202);
      expect((await c.post(`/v2/mount/target2/blobs/uploads/?mount=notadigest&from=mount/source`)).status).toBe(202);

      const limited = await seedServicePrincipal(h.db, h.config, reg.id, { roles: [{ role: 'AcrPush', repositories: ['mount/target3'] }] });
      const token = await c.token(limited.credentials, 'repository:mount/target3:pull,push', 'repository:mount/source:pull');
      const res = await c.post(`/v2/mount/target3/blobs/uploads/?mount=${blob.digest}&from=mount/source`, { auth: { bearer: token } });
      expect(res.status).toBe(202);
      expect((await c.get(`/v2/mount/target3/blobs/${blob.digest}`)).status).toBe(404);
    });
  });
});
