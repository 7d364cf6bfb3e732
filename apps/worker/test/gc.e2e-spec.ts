import { randomUUID } from 'node:crypto';
import { utimes } from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { Client } from 'pg';
import pino from 'pino';
import { blobKey, registryPrefix } from '@berth/storage';
import { BlobGcProcessor } from '../src/gc/blob-gc.processor';
import { BlobGcRepository } from '../src/gc/blob-gc.repository';
import { WorkerMetrics } from '../src/metrics/worker-metrics';
import { createBlob, createManifest, createRegistry, createRepository, listKeys } from './support/fixtures';
import { createHarness, waitFor, type Harness } from './support/harness';

describe('online garbage collection, storage sweep and upload expiry', () => {
  let h: Harness;
  const silent = pino({ level: 'silent' });
  const metrics = new WorkerMetrics({ queueCounts: async () => [], outboxPending: async () => 0 });
  const gc = (graceSeconds: number) => new BlobGcProcessor(new BlobGcRepository(h.db), h.store, silent, metrics, { graceSeconds, batchSize: 2 });
  const usedBytes = async (registryId: string) => (await h.db.registry.findUniqueOrThrow({ where: { id: registryId } })).storageUsedBytes;
  const hoursAgo = (n: number) => new Date(Date.now() - n * 3600_000);

  beforeAll(async () => {
    h = await createHarness();
  });

  afterAll(async () => {
    await h?.close();
  });

  it('deletes only unreferenced blobs past the grace period that no upload uses, keeping the usage counter exact', async () => {
    const registry = await createRegistry(h.db);
    const repo = await createRepository(h.db, registry.id, 'app');
    const referenced = await createBlob(h.db, h.store, registry.id, { lastUsedAt: hoursAgo(5), repositoryId: repo.id });
    await createManifest(h.db, registry.id, repo.id, { blobIds: [referenced.id], tags: ['v1'] });
    const garbage = await Promise.all([1, 2, 3].map(() => createBlob(h.db, h.store, registry.id, { lastUsedAt: hoursAgo(5), repositoryId: repo.id })));
    const fresh = await createBlob(h.db, h.store, registry.id, { lastUsedAt: new Date() });
    const uploading = await createBlob(h.db, h.store, registry.id, { lastUsedAt: hoursAgo(5) });
    await h.db.upload.create({ data: { registryId: registry.id, repositoryName: 'app', storageKey: uploading.storageKey, expiresAt: new Date(Date.now() + 3600_000) } });
    const before = await usedBytes(registry.id);

    const result = await gc(3600).collectRegistry(registry.id);

    expect(result.blobs).toBe(3);
    const freed = garbage.reduce((sum, blob) => sum + blob.size, 0n);
    expect(result.bytes).toBe(freed);
    expect(await usedBytes(registry.id)).toBe(before - freed);
    const left = (await h.db.blob.findMany({ where: { registryId: registry.id } })).map((b) => b.id).sort();
    expect(left).toEqual([referenced.id, fresh.id, uploading.id].sort());
    const keys = await listKeys(h.store, registryPrefix(registry.id));
    expect(keys).toEqual([referenced.storageKey, fresh.storageKey, uploading.storageKey].sort());
    // Running again finds nothing more.
    expect((await gc(3600).collectRegistry(registry.id)).blobs).toBe(0);
    expect(await usedBytes(registry.id)).toBe(before - freed);
  });

  describe('racing a push (the data plane side of the protocol, simulated on its own connection)', () => {
    let push: Client;

    beforeEach(async () => {
      push = new Client({ connectionString: h.database.url });
      await push.connect();
    });

    afterEach(async () => {
      await push.query('ROLLBACK').catch(() => undefined);
      await push.end();
    });

    /** Manifest PUT, first half: bump (and lock) the referenced blobs, insert the manifest and its blob links; no commit yet. */
    async function beginManifestPut(registryId: string, repositoryId: string, digests: string[]) {
      await push.query('BEGIN');
      const { rows } = await push.query<{ id: string }>(
        `UPDATE "Blob" SET "lastUsedAt" = now() WHERE "registryId" = $1 AND digest = ANY($2) RETURNING id`,
        [registryId, digests],
      );
      expect(rows).toHaveLength(digests.length);
      const manifest = await push.query<{ id: string }>(
        `INSERT INTO "Manifest" ("registryId", "repositoryId", digest, "mediaType", size, payload, "updatedAt")
         VALUES ($1, $2, $3, 'application/vnd.oci.image.manifest.v1+json', 2, '\\x7b7d', now()) RETURNING id`,
        [registryId, repositoryId, `sha256:${randomUUID().replace(/-/g, '').padEnd(64, '0')}`],
      );
      for (const row of rows) {
        await push.query(`INSERT INTO "ManifestBlob" ("manifestId", "blobId") VALUES ($1, $2)`, [manifest.rows[0]!.id, row.id]);
      }
    }

    it('GC with grace 0 runs while a manifest PUT transaction references the blob: nothing referenced is deleted, counters exact', async () => {
      const registry = await createRegistry(h.db);
      const repo = await createRepository(h.db, registry.id, 'slow/push');
      const layer = await createBlob(h.db, h.store, registry.id, { lastUsedAt: hoursAgo(1), repositoryId: repo.id });
      const config = await createBlob(h.db, h.store, registry.id, { lastUsedAt: hoursAgo(1), repositoryId: repo.id });
      const unrelated = await createBlob(h.db, h.store, registry.id, { lastUsedAt: hoursAgo(1) });
      const before = await usedBytes(registry.id);

      await beginManifestPut(registry.id, repo.id, [layer.digest, config.digest]);
      // GC does not wait for the push (SKIP LOCKED) and takes only what is really garbage.
      const result = await gc(0).collectRegistry(registry.id);
      expect(result.blobs).toBe(1);
      await push.query('COMMIT');

      const left = await h.db.blob.findMany({ where: { registryId: registry.id }, include: { manifestRefs: true } });
      expect(left.map((b) => b.id).sort()).toEqual([layer.id, config.id].sort());
      expect(left.every((b) => b.manifestRefs.length === 1)).toBe(true);
      expect(await h.store.stat(layer.storageKey)).toEqual({ size: Number(layer.size) });
      expect(await h.store.stat(config.storageKey)).toEqual({ size: Number(config.size) });
      expect(await h.store.stat(unrelated.storageKey)).toBeUndefined();
      expect(await usedBytes(registry.id)).toBe(before - unrelated.size);
      // Later runs keep them too: they are referenced now.
      expect((await gc(0).collectRegistry(registry.id)).blobs).toBe(0);
    });

    it('re-checks under the lock: a reference committed after the candidate scan keeps the blob', async () => {
      const registry = await createRegistry(h.db);
      const repo = await createRepository(h.db, registry.id, 'late');
      const blob = await createBlob(h.db, h.store, registry.id, { lastUsedAt: hoursAgo(1) });
      const before = await usedBytes(registry.id);
      const repository = new BlobGcRepository(h.db);

      const candidates = await repository.findCandidates(registry.id, 0, 0n, 10);
      expect(candidates).toEqual([blob.id]);
      await beginManifestPut(registry.id, repo.id, [blob.digest]);
      await push.query('COMMIT');

      expect(await repository.deleteUnreferenced(registry.id, candidates, 0)).toEqual([]);
      expect(await h.db.blob.count({ where: { id: blob.id } })).toBe(1);
      expect(await usedBytes(registry.id)).toBe(before);
    });

    it('a push that uploads, waits, then references its blob succeeds when GC runs in between (grace period)', async () => {
      const registry = await createRegistry(h.db);
      const repo = await createRepository(h.db, registry.id, 'waits');
      const blob = await createBlob(h.db, h.store, registry.id, { repositoryId: repo.id }); // just uploaded
      expect((await gc(600).collectRegistry(registry.id)).blobs).toBe(0);
      await beginManifestPut(registry.id, repo.id, [blob.digest]); // finds and locks the blob
      await push.query('COMMIT');
      expect(await h.store.stat(blob.storageKey)).toEqual({ size: Number(blob.size) });
    });
  });

  it('runs as a scheduled job (one scheduler per job however many workers start)', async () => {
    const registry = await createRegistry(h.db);
    const garbage = await createBlob(h.db, h.store, registry.id, { lastUsedAt: hoursAgo(2) });
    const schedules = { 'gc.blobs': 300, 'gc.storage-sweep': 3_600_000, 'retention.apply': 3_600_000, 'uploads.expire': 3_600_000, 'registry.resume-purges': 3_600_000 };
    const first = await h.startWorker({ schedules });
    const second = await h.startWorker({ schedules, relay: false });
    try {
      await waitFor(async () => (await h.db.blob.count({ where: { id: garbage.id } })) === 0, 'the scheduled GC');
      expect(await h.store.stat(garbage.storageKey)).toBeUndefined();
      const queue = first.producer.queue('berth-maintenance');
      const schedulers = await waitFor(async () => {
        const list = await queue.getJobSchedulers();
        return list.length === 5 && list;
      }, 'the schedulers');
      expect(schedulers.map((s) => s.name).sort()).toEqual(['gc.blobs', 'gc.storage-sweep', 'registry.resume-purges', 'retention.apply', 'uploads.expire']);
      expect(schedulers.find((s) => s.name === 'gc.blobs')?.every).toBe(300);
    } finally {
      // Schedulers outlive the workers in Redis: left behind, the 300 ms GC
      // would keep running under the next tests' workers and race them.
      const queue = first.producer.queue('berth-maintenance');
      for (const scheduler of await queue.getJobSchedulers()) await queue.removeJobScheduler(scheduler.key);
      await second.stop();
      await first.stop();
    }
  });

  it('sweeps storage objects no row names, once older than the grace', async () => {
    const registry = await createRegistry(h.db);
    const kept = await createBlob(h.db, h.store, registry.id);
    const uploadKey = blobKey(registry.id, randomUUID());
    await h.store.appendUpload(uploadKey, 0, Readable.from([Buffer.from('staged')]), []);
    await h.db.upload.create({ data: { registryId: registry.id, repositoryName: 'x', storageKey: uploadKey, expiresAt: new Date(Date.now() + 3600_000) } });
    const oldOrphan = blobKey(registry.id, randomUUID());
    const youngOrphan = blobKey(registry.id, randomUUID());
    for (const key of [oldOrphan, youngOrphan]) await h.store.appendUpload(key, 0, Readable.from([Buffer.from('orphan')]), []);
    const old = new Date(Date.now() - 2 * 3600_000);
    for (const key of [kept.storageKey, uploadKey, oldOrphan]) await utimes(path.join(h.storagePath, ...key.split('/')), old, old);

    const worker = await h.startWorker({ storageSweepGraceSeconds: 3600 });
    try {
      const result = await worker.services.storageSweep.process({ registryId: registry.id });
      expect(result).toEqual({ objects: 1 });
      expect(await listKeys(h.store, registryPrefix(registry.id))).toEqual([kept.storageKey, uploadKey, youngOrphan].sort());
    } finally {
      await worker.stop();
    }
  });

  it('expires abandoned uploads and their staged data, and nothing else', async () => {
    const registry = await createRegistry(h.db);
    const staged = async (expiresAt: Date) => {
      const key = blobKey(registry.id, randomUUID());
      await h.store.appendUpload(key, 0, Readable.from([Buffer.from('part')]), []);
      return h.db.upload.create({ data: { registryId: registry.id, repositoryName: 'x', storageKey: key, expiresAt } });
    };
    const expired = await Promise.all([staged(hoursAgo(1)), staged(hoursAgo(30))]);
    const live = await staged(new Date(Date.now() + 3600_000));
    const worker = await h.startWorker();
    try {
      expect(await worker.services.uploadExpiry.process({})).toEqual({ uploads: 2 });
      expect((await h.db.upload.findMany({ where: { registryId: registry.id } })).map((u) => u.id)).toEqual([live.id]);
      for (const upload of expired) expect(await h.store.stat(upload.storageKey)).toBeUndefined();
      expect(await h.store.stat(live.storageKey)).toEqual({ size: 4 });
      expect(await worker.services.uploadExpiry.process({})).toEqual({ uploads: 0 });
    } finally {
      await worker.stop();
    }
  });
});
