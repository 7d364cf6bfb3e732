import type { JobContext, MaintenanceJob } from '@berth/events';
import type { BlobStore } from '@berth/storage';
import { forEachLimit } from '../jobs/concurrency';
import type { Logger } from '../logger';
import type { WorkerMetrics } from '../metrics/worker-metrics';
import type { BlobGcRepository } from './blob-gc.repository';

/**
 * Online garbage collection of blobs: no read-only window, no stop-the-world
 * mark phase. Postgres knows every reference (ManifestBlob), so a blob is
 * garbage when no manifest references it, no upload is writing its object,
 * and it has not been used for the grace period (config.gc.graceSeconds).
 *
 * The protocol with the data plane, which makes GC safe against a push in
 * progress (a blob uploaded, then referenced by a manifest PUT later):
 *
 * Worker (this file, BlobGcRepository.deleteUnreferenced), per batch, in
 * one transaction: lock the candidate rows with FOR UPDATE SKIP LOCKED;
 * then, in a new statement, DELETE those still past the grace period and
 * still unreferenced and not named by an Upload, RETURNING their sizes;
 * subtract the sizes from Registry.storageUsedBytes; commit. Only then delete
 * the storage objects. A crash between commit and object delete leaves an
 * orphan object, which the storage sweep (storage-sweep.processor.ts)
 * removes once it is older than its grace.
 *
 * Data plane, what it must do on its side:
 * - Manifest PUT: inside the transaction that inserts the manifest, first
 *   lock every referenced blob row and get its id: `UPDATE "Blob" SET
 *   "lastUsedAt" = now() … RETURNING id, digest`, or (what apps/registry
 *   does, so that pushes sharing base layers do not queue behind each other)
 *   `SELECT id, digest … ORDER BY id FOR KEY SHARE`, which conflicts with
 *   GC's FOR UPDATE just the same, plus the lastUsedAt refresh when stale;
 *   any digest not returned is unknown (MANIFEST_BLOB_UNKNOWN); then insert
 *   the ManifestBlob rows in the same transaction. The lock makes GC either
 *   skip the rows (SKIP LOCKED) or, having locked first, delete them before
 *   the lock is granted, which then returns nothing: the PUT fails cleanly
 *   rather than referencing a deleted blob. Never check blob existence with
 *   a plain SELECT and insert ManifestBlob later without that lock.
 * - Upload completion: insert the Blob with `lastUsedAt = now()` (ON CONFLICT
 *   on (registryId, digest): DO UPDATE SET "lastUsedAt" = now(), and add the
 *   size to Registry.storageUsedBytes only when a row was inserted), and
 *   delete the Upload row in the same transaction. While an Upload row names
 *   a storage key, GC and the sweep leave that object alone.
 * - Cross-repository mount and any other reuse of an existing blob
 *   (RepositoryBlob insert): the same `UPDATE … SET "lastUsedAt" = now()
 *   … RETURNING id` first; no row means "not there, upload it".
 * - Recommended: a blob HEAD (clients check before skipping an upload) bumps
 *   lastUsedAt when it is older than a few minutes, so a push that found the
 *   blob present gets a full grace period to reference it.
 *
 * The grace period must exceed the longest time a client takes between
 * uploading a blob and putting the manifest that references it.
 */
export class BlobGcProcessor {
  constructor(
    private readonly repository: BlobGcRepository,
    private readonly store: BlobStore,
    private readonly logger: Logger,
    private readonly metrics: WorkerMetrics,
    private readonly settings: { graceSeconds: number; batchSize: number },
  ) {}

  async process(job: MaintenanceJob, context?: JobContext): Promise<{ blobs: number; bytes: string }> {
    let blobs = 0;
    let bytes = 0n;
    for await (const registryId of this.registries(job.registryId)) {
      const result = await this.collectRegistry(registryId, context);
      blobs += result.blobs;
      bytes += result.bytes;
    }
    if (blobs > 0) this.logger.info({ blobs, bytes: String(bytes) }, 'blob gc: deleted unreferenced blobs');
    return { blobs, bytes: String(bytes) };
  }

  /** Collects one registry; exported for on-demand runs and tests. */
  async collectRegistry(registryId: string, context?: JobContext): Promise<{ blobs: number; bytes: bigint }> {
    const { graceSeconds, batchSize } = this.settings;
    let cursor = 0n;
    let blobs = 0;
    let bytes = 0n;
    for (;;) {
      if (context?.shouldYield()) await context.release();
      const candidates = await this.repository.findCandidates(registryId, graceSeconds, cursor, batchSize);
      if (candidates.length === 0) break;
      cursor = candidates[candidates.length - 1]!;
      const deleted = await this.repository.deleteUnreferenced(registryId, candidates, graceSeconds);
      // After the commit: a failure here leaves orphans for the storage sweep, never dangling rows.
      await forEachLimit(deleted, 8, async (blob) => {
        try {
          await this.store.delete(blob.storageKey);
        } catch (error) {
          this.logger.warn({ registryId, storageKey: blob.storageKey, err: error }, 'blob gc: object delete failed; the storage sweep will retry');
        }
      });
      blobs += deleted.length;
      bytes += deleted.reduce((sum, blob) => sum + blob.size, 0n);
      this.metrics.gcDeletedBlobs.inc(deleted.length);
      this.metrics.gcFreedBytes.inc(Number(deleted.reduce((sum, blob) => sum + blob.size, 0n)));
      if (candidates.length < batchSize) break;
    }
    return { blobs, bytes };
  }

  private async *registries(only: string | undefined): AsyncGenerator<string> {
    if (only) {
      yield only;
      return;
    }
    let after: string | undefined;
    for (;;) {
      const page = await this.repository.listRegistries(after, 100);
      for (const registry of page) yield registry.id;
      if (page.length < 100) return;
      after = page[page.length - 1]!.id;
    }
  }
}
