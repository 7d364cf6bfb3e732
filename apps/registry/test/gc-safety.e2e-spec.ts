// The data plane's side of the online GC protocol (apps/worker, blob-gc.processor.ts)
// and of registry deletion, with the other party simulated on its own Postgres
// connection, statement by statement, so every interleaving is deterministic.
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { Client } from 'pg';
import { requireDatabaseUrl } from '@berth/config';
import { digestOf, MediaType } from '@berth/oci';
import { blobKey } from '@berth/storage';
import { createRegistryServer, type RegistryServer } from '../src/registry-server';
import { errorCode, RegistryClient, type TestResponse } from './support/client';
import { startHarness, TEST_DOMAIN, type Harness } from './support/harness';
import { imageConfig, ociManifest, pushBlob, pushManifest, testBlob } from './support/oci';
import { seedRegistry, type SeededRegistry } from './support/seed';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('GC safety and registry deletion (data plane side)', () => {
  let h: Harness;
  let reg: SeededRegistry;
  let c: RegistryClient;
  /** Plays garbage collection, the management API or a blocker: holds locks in open transactions. */
  let other: Client;
  /** Watches pg_stat_activity (outside any transaction, so its view is fresh). */
  let monitor: Client;

  beforeAll(async () => {
    h = await startHarness();
    reg = await seedRegistry(h.db, h.config, { name: 'gcsafe' });
    c = h.client('gcsafe', { basic: reg.admin });
    const url = requireDatabaseUrl(h.config);
    other = new Client({ connectionString: url });
    monitor = new Client({ connectionString: url });
    await Promise.all([other.connect(), monitor.connect()]);
  });

  afterEach(async () => {
    await other.query('ROLLBACK').catch(() => undefined);
  });

  afterAll(async () => {
    await other?.end();
    await monitor?.end();
    await h?.close();
  });

  /** Waits until some other session of this database waits on a lock (a request blocked by `other`). */
  async function blockedOnLock(kind?: string): Promise<void> {
    for (let i = 0; i < 400; i++) {
      const { rows } = await monitor.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
         WHERE datname = current_database() AND wait_event_type = 'Lock' AND ($1::text IS NULL OR wait_event = $1)`,
        [kind ?? null],
      );
      if (rows[0]!.n > 0) return;
      await sleep(10);
    }
    throw new Error('no request is waiting on a lock');
  }

  async function blobRow(digest: string, registryId = reg.id) {
    return h.db.blob.findFirst({ where: { registryId, digest } });
  }

  /** Seconds between the blob's lastUsedAt and the database's clock. */
  async function lastUsedAge(digest: string): Promise<number> {
    const { rows } = await monitor.query<{ age: number }>(
      `SELECT extract(epoch FROM now() - "lastUsedAt")::float AS age FROM "Blob" WHERE "registryId" = $1 AND digest = $2`,
      [reg.id, digest],
    );
    return rows[0]!.age;
  }

  async function ageBlob(digest: string, interval: string): Promise<void> {
    await monitor.query(`UPDATE "Blob" SET "lastUsedAt" = now() - $3::interval WHERE "registryId" = $1 AND digest = $2`, [reg.id, digest, interval]);
  }

  /** What GC's deleteUnreferenced does once it holds the row: delete it and take its bytes off the usage. */
  async function gcDeleteLocked(blobId: bigint, size: number, registryId = reg.id): Promise<void> {
    await other.query(`DELETE FROM "Blob" WHERE id = $1`, [blobId]);
    await other.query(`UPDATE "Registry" SET "storageUsedBytes" = "storageUsedBytes" - $2 WHERE id = $1`, [registryId, size]);
    await other.query('COMMIT');
  }

  async function usageMatchesContent(registryId: string): Promise<void> {
    const { rows } = await monitor.query<{ used: string; content: string }>(
      `SELECT r."storageUsedBytes"::text AS used,
              ((SELECT coalesce(sum(size), 0) FROM "Blob" WHERE "registryId" = r.id)
             + (SELECT coalesce(sum(size), 0) FROM (SELECT DISTINCT ON (digest) size FROM "Manifest" WHERE "registryId" = r.id) m))::text AS content
       FROM "Registry" r WHERE r.id = $1`,
      [registryId],
    );
    expect(rows[0]!.used).toBe(rows[0]!.content);
  }

  describe('manifest PUT', () => {
    it('answers MANIFEST_BLOB_UNKNOWN (not a 500) when GC deletes a referenced blob it locked first; a re-upload then succeeds', async () => {
      const config = imageConfig();
      const layer = testBlob();
      for (const blob of [config, layer]) await pushBlob(c, 'gc/first', blob);
      const manifest = ociManifest(config, [layer]);
      const row = (await blobRow(layer.digest))!;

      await other.query('BEGIN');
      const locked = await other.query(`SELECT id FROM "Blob" WHERE id = $1 FOR UPDATE SKIP LOCKED`, [row.id]);
      expect(locked.rowCount).toBe(1);
      const put = pushManifest(c, 'gc/first', 'v1', manifest);
      await blockedOnLock();
      await gcDeleteLocked(row.id, layer.size);

      const res = await put;
      expect(res.status).toBe(400);
      expect(errorCode(res)).toBe('MANIFEST_BLOB_UNKNOWN');
      expect(res.json().errors[0].detail).toEqual({ digest: layer.digest });
      expect(await h.db.manifest.count({ where: { registryId: reg.id, digest: digestOf(manifest) } })).toBe(0);

      await pushBlob(c, 'gc/first', layer);
      expect((await pushManifest(c, 'gc/first', 'v1', manifest)).status).toBe(201);
      expect((await c.get(`/v2/gc/first/blobs/${layer.digest}`)).body.equals(layer.data)).toBe(true);
      await usageMatchesContent(reg.id);
    });

    it('holds its blobs while it writes, so GC skips them, and refreshes a stale lastUsedAt', async () => {
      const config = imageConfig();
      const layer = testBlob();
      for (const blob of [config, layer]) await pushBlob(c, 'gc/second', blob);
      await ageBlob(config.digest, '2 hours');
      await ageBlob(layer.digest, '2 hours');
      const manifest = ociManifest(config, [layer]);
      const ids = [(await blobRow(config.digest))!.id, (await blobRow(layer.digest))!.id];

      // Hold the manifest digest's lock: the PUT stops right after locking its blobs.
      await other.query('BEGIN');
      await other.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`${reg.id}:${digestOf(manifest)}`]);
      const put = pushManifest(c, 'gc/second', 'v1', manifest);
      await blockedOnLock('advisory');

      const gc = new Client({ connectionString: requireDatabaseUrl(h.config) });
      await gc.connect();
      try {
        await gc.query('BEGIN');
        const skipped = await gc.query(`SELECT id FROM "Blob" WHERE id = ANY($1::bigint[]) FOR UPDATE SKIP LOCKED`, [ids]);
        expect(skipped.rowCount).toBe(0);
        await gc.query('ROLLBACK');
      } finally {
        await gc.end();
      }

      await other.query('COMMIT');
      expect((await put).status).toBe(201);
      expect(await lastUsedAge(layer.digest)).toBeLessThan(60);
      expect(await lastUsedAge(config.digest)).toBeLessThan(60);
      // GC's candidate query now sees the references.
      const candidates = await monitor.query(
        `SELECT b.id FROM "Blob" b WHERE b.id = ANY($1::bigint[]) AND NOT EXISTS (SELECT 1 FROM "ManifestBlob" mb WHERE mb."blobId" = b.id)`,
        [ids],
      );
      expect(candidates.rowCount).toBe(0);
    });
  });

  describe('upload completion', () => {
    it('commits the upload as a new blob when GC deletes the existing copy of its digest meanwhile', async () => {
      const blob = testBlob();
      await pushBlob(c, 'gc/dup-a', blob);
      const existing = (await blobRow(blob.digest))!;

      const start = await c.post('/v2/gc/dup-b/blobs/uploads/');
      const location = start.header('location')!;
      const uploadId = location.split('/').pop()!;
      expect((await c.patch(location, { body: blob.data })).status).toBe(202);

      await other.query('BEGIN');
      await other.query(`SELECT id FROM "Blob" WHERE id = $1 FOR UPDATE`, [existing.id]);
      const put = c.put(`${location}?digest=${blob.digest}`);
      await blockedOnLock();
      await gcDeleteLocked(existing.id, blob.size);

      const res = await put;
      expect(res.status).toBe(201);
      const fresh = (await blobRow(blob.digest))!;
      expect(fresh.id).not.toBe(existing.id);
      expect(fresh.storageKey).toBe(blobKey(reg.id, uploadId));
      expect((await c.get(`/v2/gc/dup-b/blobs/${blob.digest}`)).body.equals(blob.data)).toBe(true);
      expect((await c.head(`/v2/gc/dup-a/blobs/${blob.digest}`)).status).toBe(404); // its link went with the old row
      expect(await h.db.upload.count({ where: { id: uploadId } })).toBe(0);
      await usageMatchesContent(reg.id);
    });
  });

  describe('a push racing the deletion of its repository', () => {
    async function repositoryId(name: string): Promise<string | undefined> {
      const { rows } = await monitor.query<{ id: string }>(`SELECT id FROM "Repository" WHERE "registryId" = $1 AND name = $2`, [reg.id, name]);
      return rows[0]?.id;
    }

    /** What /acr/v1 repository delete does: it locks the row first, then removes the repository and everything in it. */
    async function lockRepositoryForDelete(name: string): Promise<string> {
      const id = (await repositoryId(name))!;
      await other.query('BEGIN');
      await other.query(`SELECT id FROM "Repository" WHERE id = $1 FOR UPDATE`, [id]);
      return id;
    }

    async function finishDelete(id: string): Promise<void> {
      await other.query(`DELETE FROM "Tag" WHERE "repositoryId" = $1`, [id]);
      await other.query(`DELETE FROM "Manifest" WHERE "repositoryId" = $1`, [id]);
      await other.query(`DELETE FROM "RepositoryBlob" WHERE "repositoryId" = $1`, [id]);
      await other.query(`DELETE FROM "Repository" WHERE id = $1`, [id]);
      await other.query('COMMIT');
    }

    it('a manifest PUT waits for the delete, then answers MANIFEST_BLOB_UNKNOWN (the blob links went with the repository), not a 500', async () => {
      const config = imageConfig();
      const layer = testBlob();
      for (const blob of [config, layer]) await pushBlob(c, 'race/manifest', blob);
      const manifest = ociManifest(config, [layer]);
      const id = await lockRepositoryForDelete('race/manifest');
      const put = pushManifest(c, 'race/manifest', 'v1', manifest);
      await blockedOnLock();
      await finishDelete(id);

      const res = await put;
      expect(res.status).toBe(400);
      expect(errorCode(res)).toBe('MANIFEST_BLOB_UNKNOWN');
      expect(await repositoryId('race/manifest')).toBeUndefined(); // the refused push left no empty repository behind
      // The client pushes the blobs again, as docker does, and the image lands.
      for (const blob of [config, layer]) await pushBlob(c, 'race/manifest', blob);
      expect((await pushManifest(c, 'race/manifest', 'v1', manifest)).status).toBe(201);
      expect((await c.get('/v2/race/manifest/manifests/v1', { headers: { accept: MediaType.OciManifest } })).body.equals(manifest)).toBe(true);
      await usageMatchesContent(reg.id);
    });

    it('an upload completion waits for the delete, then links its blob to the repository created anew', async () => {
      await pushBlob(c, 'race/upload', testBlob());
      const blob = testBlob();
      const start = await c.post('/v2/race/upload/blobs/uploads/');
      const location = start.header('location')!;
      expect((await c.patch(location, { body: blob.data })).status).toBe(202);
      const id = await lockRepositoryForDelete('race/upload');
      const put = c.put(`${location}?digest=${blob.digest}`);
      await blockedOnLock();
      await finishDelete(id);

      const res = await put;
      expect(res.status).toBe(201);
      const recreated = await repositoryId('race/upload');
      expect(recreated).toBeDefined();
      expect(recreated).not.toBe(id);
      expect((await c.get(`/v2/race/upload/blobs/${blob.digest}`)).body.equals(blob.data)).toBe(true);
      await usageMatchesContent(reg.id);
    });
  });

  describe('blob reads and mounts refresh lastUsedAt', () => {
    it('HEAD and GET refresh a lastUsedAt older than a few minutes, and leave a recent one alone', async () => {
      const blob = testBlob();
      await pushBlob(c, 'gc/read', blob);
      await ageBlob(blob.digest, '2 hours');
      expect((await c.head(`/v2/gc/read/blobs/${blob.digest}`)).status).toBe(200);
      expect(await lastUsedAge(blob.digest)).toBeLessThan(60);

      await ageBlob(blob.digest, '2 hours');
      expect((await c.get(`/v2/gc/read/blobs/${blob.digest}`)).status).toBe(200);
      expect(await lastUsedAge(blob.digest)).toBeLessThan(60);

      await ageBlob(blob.digest, '90 seconds');
      const before = (await blobRow(blob.digest))!.lastUsedAt;
      expect((await c.head(`/v2/gc/read/blobs/${blob.digest}`)).status).toBe(200);
      expect((await blobRow(blob.digest))!.lastUsedAt).toEqual(before);
    });

    it('answers 404 to a HEAD whose blob GC deletes while the HEAD refreshes it', async () => {
      const blob = testBlob();
      await pushBlob(c, 'gc/read-gone', blob);
      await ageBlob(blob.digest, '2 hours');
      const row = (await blobRow(blob.digest))!;
      await other.query('BEGIN');
      await other.query(`SELECT id FROM "Blob" WHERE id = $1 FOR UPDATE`, [row.id]);
      const head = c.head(`/v2/gc/read-gone/blobs/${blob.digest}`);
      await blockedOnLock();
      await gcDeleteLocked(row.id, blob.size);
      expect((await head).status).toBe(404);
    });

    it('a cross-repository mount refreshes a stale source blob', async () => {
      const blob = testBlob();
      await pushBlob(c, 'gc/mount-src', blob);
      await ageBlob(blob.digest, '2 hours');
      const res = await c.post(`/v2/gc/mount-dst/blobs/uploads/?mount=${blob.digest}&from=gc/mount-src`);
      expect(res.status).toBe(201);
      expect(await lastUsedAge(blob.digest)).toBeLessThan(60);
    });
  });

  describe('timestamps come from the database clock', () => {
    afterEach(() => {
      jest.useRealTimers();
    });

    it('records lastUsedAt and upload expiry with now() even when this process runs days behind', async () => {
      // Only Date is faked (timers stay real): the server now believes it is three days ago.
      jest.useFakeTimers({
        now: Date.now() - 3 * 86_400_000,
        doNotFake: ['hrtime', 'nextTick', 'performance', 'queueMicrotask', 'setImmediate', 'clearImmediate', 'setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'],
      });
      const config = imageConfig();
      const layer = testBlob();
      // A chunked upload: had expiresAt come from this clock (three days ago + 24 h) the PATCH would find it expired.
      const start = await c.post('/v2/gc/clock/blobs/uploads/');
      expect(start.status).toBe(202);
      expect((await c.patch(start.header('location')!, { body: layer.data })).status).toBe(202);
      const { rows } = await monitor.query<{ ahead: number }>(
        `SELECT extract(epoch FROM "expiresAt" - now())::float AS ahead FROM "Upload" WHERE id = $1`,
        [start.header('location')!.split('/').pop()],
      );
      expect(rows[0]!.ahead).toBeGreaterThan(h.config.uploads.expirySeconds - 120);
      expect((await c.put(`${start.header('location')}?digest=${layer.digest}`)).status).toBe(201);
      expect(await lastUsedAge(layer.digest)).toBeLessThan(60);

      await pushBlob(c, 'gc/clock', config);
      expect(await lastUsedAge(config.digest)).toBeLessThan(60);

      for (const digest of [config.digest, layer.digest]) await ageBlob(digest, '2 hours');
      expect((await pushManifest(c, 'gc/clock', 'v1', ociManifest(config, [layer]))).status).toBe(201);
      expect(await lastUsedAge(config.digest)).toBeLessThan(60);
      expect(await lastUsedAge(layer.digest)).toBeLessThan(60);

      await ageBlob(layer.digest, '2 hours');
      expect((await c.head(`/v2/gc/clock/blobs/${layer.digest}`)).status).toBe(200);
      expect(await lastUsedAge(layer.digest)).toBeLessThan(60);

      await ageBlob(layer.digest, '2 hours');
      expect((await c.post(`/v2/gc/clock2/blobs/uploads/?mount=${layer.digest}&from=gc/clock`)).status).toBe(201);
      expect(await lastUsedAge(layer.digest)).toBeLessThan(60);

      await ageBlob(layer.digest, '2 hours');
      await pushBlob(c, 'gc/clock3', layer); // the deduplicated path of an upload
      expect(await lastUsedAge(layer.digest)).toBeLessThan(60);
    });
  });

  describe('upload sessions', () => {
    function streamingPatch(location: string, headers: Record<string, string> = {}) {
      const body = new PassThrough();
      let settled = false;
      const response = c.patch(location, { body, headers: { 'transfer-encoding': 'chunked', ...headers } }).finally(() => {
        settled = true;
      });
      return { body, response, settled: () => settled };
    }

    it('serialises concurrent chunks of one upload: the second waits for the first, then appends after it', async () => {
      const start = await c.post('/v2/gc/chunks/blobs/uploads/');
      const location = start.header('location')!;
      const uploadId = location.split('/').pop()!;

      const first = streamingPatch(location);
      first.body.write(Buffer.from('aaaa'));
      // The first PATCH holds the row: the worker's upload expiry (SKIP LOCKED) would leave it alone.
      let skipped = 1;
      for (let i = 0; i < 200 && skipped !== 0; i++) {
        await sleep(10);
        skipped = (await monitor.query(`SELECT id FROM "Upload" WHERE id = $1 FOR UPDATE SKIP LOCKED`, [uploadId])).rowCount ?? 0;
      }
      expect(skipped).toBe(0);

      const second = c.patch(location, { body: 'bbbb' });
      const stale = c.patch(location, { body: 'zzzz', headers: { 'content-range': '0-3' } });
      await blockedOnLock();
      await sleep(150);
      expect(first.settled()).toBe(false);

      first.body.end(Buffer.from('cccc'));
      const firstRes = await first.response;
      expect(firstRes.status).toBe(202);
      expect(firstRes.header('range')).toBe('0-7');
      const [secondRes, staleRes] = await Promise.all([second, stale]);
      const results = [secondRes, staleRes].map((res: TestResponse) => res.status);
      expect(results).toEqual([202, 416]);
      expect(staleRes.header('range')).toMatch(/^0-(7|11)$/);

      const content = Buffer.from('aaaaccccbbbb');
      const done = await c.put(`${location}?digest=${digestOf(content)}`);
      expect(done.status).toBe(201);
      expect((await c.get(`/v2/gc/chunks/blobs/${digestOf(content)}`)).body.equals(content)).toBe(true);
    });

    it('treats a session past its expiresAt (database clock) as unknown', async () => {
      const start = await c.post('/v2/gc/expired/blobs/uploads/');
      const location = start.header('location')!;
      expect((await c.patch(location, { body: 'abc' })).status).toBe(202);
      await monitor.query(`UPDATE "Upload" SET "expiresAt" = now() - interval '1 second' WHERE id = $1`, [location.split('/').pop()]);
      const answers = [
        await c.get(location),
        await c.patch(location, { body: 'def' }),
        await c.put(`${location}?digest=${digestOf('abcdef')}`, { body: 'def' }),
        await c.delete(location),
      ];
      expect(answers.map((res) => res.status)).toEqual([404, 404, 404, 404]);
      expect(answers.slice(1).map(errorCode)).toEqual(['BLOB_UPLOAD_UNKNOWN', 'BLOB_UPLOAD_UNKNOWN', 'BLOB_UPLOAD_UNKNOWN']);
    });
  });

  describe('a registry being deleted', () => {
    let cached: RegistryServer;
    let d: RegistryClient;
    let dying: SeededRegistry;

    beforeAll(async () => {
      // A second server on the same database whose Host → registry cache outlives the test.
      cached = await createRegistryServer(h.config, { redis: null, registryCacheTtlMs: 600_000 });
      await new Promise<void>((resolve) => cached.server.listen(0, '127.0.0.1', resolve));
      dying = await seedRegistry(h.db, h.config, { name: 'dying' });
      d = new RegistryClient((cached.server.address() as AddressInfo).port, `dying.${TEST_DOMAIN}`, { basic: dying.admin });
    });

    afterAll(async () => {
      await cached?.close();
    });

    it('refuses, inside the write transactions, what requests in flight try to add once it is marked Deleting', async () => {
      const config = imageConfig();
      const layer = testBlob();
      for (const blob of [config, layer]) await pushBlob(d, 'app', blob);
      const other1 = testBlob();
      const start = await d.post('/v2/app/blobs/uploads/');
      const location = start.header('location')!;
      expect((await d.patch(location, { body: other1.data })).status).toBe(202);

      // The management API's delete: lock the row, mark it, commit. A manifest PUT arriving meanwhile waits, then refuses.
      await other.query('BEGIN');
      await other.query(`SELECT 1 FROM "Registry" WHERE id = $1 FOR UPDATE`, [dying.id]);
      const put = pushManifest(d, 'app', 'v1', ociManifest(config, [layer]));
      await blockedOnLock();
      await other.query(`UPDATE "Registry" SET "provisioningState" = 'Deleting', "deletionRequestedAt" = now() WHERE id = $1`, [dying.id]);
      await other.query('COMMIT');
      const refused = await put;
      expect(refused.status).toBe(404);
      expect(errorCode(refused)).toBe('NAME_UNKNOWN');

      // The cache still says Succeeded: every write is refused by the database re-check.
      expect((await d.get('/v2/')).status).toBe(200);
      const complete = await d.put(`${location}?digest=${other1.digest}`);
      expect([complete.status, errorCode(complete)]).toEqual([404, 'NAME_UNKNOWN']);
      const whole = await d.post(`/v2/app/blobs/uploads/?digest=${testBlob().digest}`, { body: 'x' });
      expect([whole.status, errorCode(whole)]).toEqual([404, 'NAME_UNKNOWN']);
      const session = await d.post('/v2/app/blobs/uploads/');
      expect([session.status, errorCode(session)]).toEqual([404, 'NAME_UNKNOWN']);
      const mount = await d.post(`/v2/other/blobs/uploads/?mount=${layer.digest}&from=app`);
      expect([mount.status, errorCode(mount)]).toEqual([404, 'NAME_UNKNOWN']);
      expect(await h.db.manifest.count({ where: { registryId: dying.id } })).toBe(0);
      expect(await h.db.blob.count({ where: { registryId: dying.id, digest: other1.digest } })).toBe(0);
      expect(await h.db.repository.count({ where: { registryId: dying.id, name: 'other' } })).toBe(0);

      // A server whose cache is fresh does not serve it at all.
      const fresh = h.client('dying', { basic: dying.admin });
      const ping = await fresh.get('/v2/');
      expect([ping.status, errorCode(ping)]).toEqual([404, 'NAME_UNKNOWN']);
    });
  });
});
