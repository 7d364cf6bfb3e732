import type { Db } from '@berth/db';
import type { JobContext, MaintenanceJob } from '@berth/events';
import type { BlobStore } from '@berth/storage';
import { forEachLimit } from '../jobs/concurrency';
import type { Logger } from '../logger';

/**
 * Expires abandoned upload sessions. Per batch, one transaction locks the
 * expired Upload rows (SKIP LOCKED: a PATCH or PUT holding its row is left
 * alone), deletes their staged objects, then the rows. A crash before the
 * commit leaves the rows, and the rerun deletes the objects again
 * (idempotent); nothing is orphaned.
 *
 * Data plane side: lock the Upload row (`SELECT … FOR UPDATE`) for every
 * PATCH/PUT/status request and treat `expiresAt < now()` as unknown upload.
 */
export class UploadExpiryProcessor {
  constructor(
    private readonly db: Db,
    private readonly store: BlobStore,
    private readonly logger: Logger,
    private readonly settings: { batchSize: number },
  ) {}

  async process(job: MaintenanceJob, context?: JobContext): Promise<{ uploads: number }> {
    let total = 0;
    for (;;) {
      if (context?.shouldYield()) await context.release();
      const n = await this.expireBatch(job.registryId);
      total += n;
      if (n < this.settings.batchSize) break;
    }
    if (total > 0) this.logger.info({ uploads: total }, 'upload expiry: removed abandoned uploads');
    return { uploads: total };
  }

  private async expireBatch(registryId: string | undefined): Promise<number> {
    const limit = this.settings.batchSize;
    return this.db.$transaction(
      async (tx) => {
        const rows = registryId
          ? await tx.$queryRaw<Array<{ id: string; registryId: string; storageKey: string }>>`
              SELECT id::text AS id, "registryId"::text AS "registryId", "storageKey" FROM "Upload"
              WHERE "expiresAt" < now() AND "registryId" = ${registryId}::uuid
              ORDER BY "expiresAt" LIMIT ${limit} FOR UPDATE SKIP LOCKED`
          : await tx.$queryRaw<Array<{ id: string; registryId: string; storageKey: string }>>`
              SELECT id::text AS id, "registryId"::text AS "registryId", "storageKey" FROM "Upload"
              WHERE "expiresAt" < now()
              ORDER BY "expiresAt" LIMIT ${limit} FOR UPDATE SKIP LOCKED`;
        if (rows.length === 0) return 0;
        // Defensive: an object a Blob row names is the blob, not staged data.
        const keys = rows.map((row) => row.storageKey);
        const named = await tx.$queryRaw<Array<{ storageKey: string }>>`
          SELECT "storageKey" FROM "Blob" WHERE "storageKey" = ANY(${keys}::text[])`;
        const keep = new Set(named.map((row) => row.storageKey));
        await forEachLimit(
          rows.filter((row) => !keep.has(row.storageKey)),
          8,
          (row) => this.store.delete(row.storageKey),
        );
        await tx.$executeRaw`DELETE FROM "Upload" WHERE id = ANY(${rows.map((row) => row.id)}::uuid[])`;
        return rows.length;
      },
      { timeout: 120_000, maxWait: 10_000 },
    );
  }
}
