import { sql, type SqlClient, type SqlPool } from '@berth/db/plain';
import type { MetadataCache } from '../data/metadata-cache';
import { TX_OPTIONS } from '../data/transactions';
import { ensureRepository } from '../repositories/repository.repository';

export interface LinkedBlob {
  id: bigint;
  size: number;
  storageKey: string;
  repositoryReadEnabled: boolean;
  /** lastUsedAt is older than LAST_USED_REFRESH_SECONDS: the caller should `touch` it. */
  stale: boolean;
}

export type CommitResult = { kind: 'created' } | { kind: 'deduplicated' } | { kind: 'quota-exceeded'; usedBytes: number };

/**
 * Blob."lastUsedAt" is refreshed by reads and mounts only when older than
 * this, so a busy blob costs no write per pull. Garbage collection keeps an
 * unreferenced blob for its grace period after lastUsedAt, so a client that
 * skipped an upload because the blob exists still has (nearly) the whole
 * grace period to put the manifest that references it.
 */
export const LAST_USED_REFRESH_SECONDS = 300;

/** Whether the blob row aliased `b` is due for a lastUsedAt refresh (database clock). */
export const BLOB_IS_STALE = sql.raw(`b."lastUsedAt" < now() - interval '${LAST_USED_REFRESH_SECONDS} seconds'`);

/**
 * Blob metadata. Postgres maps (registry, digest) → storage key; a blob is
 * visible only through repositories linked to it (RepositoryBlob).
 *
 * Garbage collection (apps/worker, blob-gc.processor.ts) deletes a Blob row
 * that no manifest references, no upload names and whose lastUsedAt (always
 * the database clock, never this process's) is past the grace period, after
 * locking it `FOR UPDATE SKIP LOCKED`. Every path here that reuses an
 * existing blob therefore locks or updates its row first, and treats a row
 * that vanished meanwhile as "not there".
 */
export class BlobRepository {
  constructor(
    private readonly db: SqlPool,
    /** Answers of findLinked, dropped on every change (see MetadataCache). */
    private readonly cache: MetadataCache,
  ) {}

  /**
   * The blob `digest` as readable through `repositoryName`, or undefined when
   * not linked there (hot path: from the metadata cache, else one prepared
   * statement). Staleness is decided now, from when the row says lastUsedAt
   * will be older than LAST_USED_REFRESH_SECONDS, so a cached answer turns
   * stale on time.
   */
  async findLinked(registryId: string, repositoryName: string, digest: string): Promise<LinkedBlob | undefined> {
    const load = () => this.queryLinked(registryId, repositoryName, digest);
    const found = await this.cache.get(registryId, `blob:${repositoryName}@${digest}`, load, (blob) => blob.storageKey.length);
    if (!found) return undefined;
    const { staleAt, ...blob } = found;
    return { ...blob, stale: Date.now() >= staleAt };
  }

  private async queryLinked(registryId: string, repositoryName: string, digest: string): Promise<(Omit<LinkedBlob, 'stale'> & { staleAt: number }) | undefined> {
    const rows = await this.db.rows<{ id: bigint; size: bigint; storageKey: string; readEnabled: boolean; freshSeconds: number }>(sql`
      SELECT b."id", b."size", b."storageKey", r."readEnabled",
             extract(epoch FROM b."lastUsedAt" + make_interval(secs => ${LAST_USED_REFRESH_SECONDS}) - now())::float8 AS "freshSeconds"
      FROM "Repository" r
      JOIN "RepositoryBlob" rb ON rb."repositoryId" = r."id"
      JOIN "Blob" b ON b."id" = rb."blobId"
      WHERE r."registryId" = ${registryId}::uuid AND r."name" = ${repositoryName} AND b."digest" = ${digest}`);
    const row = rows[0];
    if (!row) return undefined;
    return {
      id: row.id,
      size: Number(row.size),
      storageKey: row.storageKey,
      repositoryReadEnabled: row.readEnabled,
      staleAt: Date.now() + row.freshSeconds * 1000,
    };
  }

  /**
   * Marks a blob used now (database clock). False when the row is gone:
   * garbage collection deleted it after it was looked up (the UPDATE waits
   * for GC's row lock, then finds nothing).
   */
  async touch(registryId: string, blobId: bigint): Promise<boolean> {
    // Cached answers carry the old lastUsedAt (and would ask for another touch): dropped after.
    const rows = await this.cache.write(registryId, () =>
      this.db.rows<{ id: bigint }>(sql`
        UPDATE "Blob" SET "lastUsedAt" = now() WHERE "id" = ${blobId} AND "registryId" = ${registryId}::uuid RETURNING "id"`),
    );
    return rows.length === 1;
  }

  /**
   * Removes the blob's link to the repository (the bytes stay for other
   * repositories; garbage collection reclaims unreferenced blobs later).
   */
  async unlink(registryId: string, repositoryName: string, digest: string): Promise<'unlinked' | 'unknown' | 'locked'> {
    return this.cache.write(registryId, () => this.db.transaction(async (tx) => {
      const rows = await tx.rows<{ repositoryId: string; blobId: bigint; deleteEnabled: boolean }>(sql`
        SELECT rb."repositoryId", rb."blobId", r."deleteEnabled"
        FROM "Repository" r
        JOIN "RepositoryBlob" rb ON rb."repositoryId" = r."id"
        JOIN "Blob" b ON b."id" = rb."blobId"
        WHERE r."registryId" = ${registryId}::uuid AND r."name" = ${repositoryName} AND b."digest" = ${digest}
        FOR UPDATE OF rb`);
      const row = rows[0];
      if (!row) return 'unknown';
      if (!row.deleteEnabled) return 'locked';
      await tx.execute(sql`DELETE FROM "RepositoryBlob" WHERE "repositoryId" = ${row.repositoryId}::uuid AND "blobId" = ${row.blobId}`);
      return 'unlinked';
    }, TX_OPTIONS));
  }

  /**
   * Records a verified upload as a blob of the registry and links it to the
   * repository, inside the caller's transaction (the one holding the Upload
   * row), which also deletes the upload session. When the registry already
   * has the digest the existing blob is linked instead ('deduplicated': the
   * caller deletes the new bytes after the commit). Usage counts each
   * distinct blob of a registry once, and may not exceed `quotaBytes`
   * ('quota-exceeded': nothing is recorded; the caller discards the session
   * and its bytes).
   *
   * `durable` (the flush of the upload's bytes) is awaited after the blob's
   * own rows are written (its Blob row, which only a concurrent push of the
   * same digest also locks; its repository link; the session) and before the
   * registry's usage row is updated: that row lock is held until commit and
   * every push to the registry needs it, so holding it through a file flush
   * made concurrent completions wait for each other's flushes one after the
   * other.
   *
   * The upsert is one statement, so a concurrent garbage collection cannot
   * make it fail: ON CONFLICT DO UPDATE waits for GC's lock on the existing
   * row, and when GC deleted that row it inserts ours instead (our object
   * becomes the blob). Refuses (NAME_UNKNOWN) when the registry is being deleted.
   */
  async commitUpload(
    tx: SqlClient,
    input: {
      registryId: string;
      repositoryName: string;
      uploadId: string;
      digest: string;
      size: number;
      storageKey: string;
      quotaBytes: number;
    },
    durable: Promise<void>,
  ): Promise<CommitResult> {
    const { registryId, digest, size } = input;
    const repository = await ensureRepository(tx, registryId, input.repositoryName);
    // Our storage key is unique to this upload, so a row carrying it is the one we inserted.
    const upserted = await tx.rows<{ id: bigint; inserted: boolean }>(sql`
      INSERT INTO "Blob" ("registryId", "digest", "size", "storageKey", "createdAt", "lastUsedAt")
      VALUES (${registryId}::uuid, ${digest}, ${BigInt(size)}, ${input.storageKey}, now(), now())
      ON CONFLICT ("registryId", "digest") DO UPDATE SET "lastUsedAt" = now()
      RETURNING "id", "storageKey" = ${input.storageKey} AS "inserted"`);
    const blob = upserted[0]!;
    await tx.execute(sql`
      INSERT INTO "RepositoryBlob" ("repositoryId", "blobId", "createdAt") VALUES (${repository.id}::uuid, ${blob.id}, now())
      ON CONFLICT DO NOTHING`);
    await tx.execute(sql`DELETE FROM "Upload" WHERE "id" = ${input.uploadId}::uuid AND "registryId" = ${registryId}::uuid`);
    await durable;
    if (blob.inserted) {
      const updated = await tx.rows<{ storageUsedBytes: bigint }>(sql`
        UPDATE "Registry" SET "storageUsedBytes" = "storageUsedBytes" + ${BigInt(size)}
        WHERE "id" = ${registryId}::uuid AND "storageUsedBytes" + ${BigInt(size)} <= ${BigInt(input.quotaBytes)}
        RETURNING "storageUsedBytes"`);
      if (!updated[0]) {
        // Nobody else can see the uncommitted rows yet: take them back (the link goes with the blob).
        await tx.execute(sql`DELETE FROM "Blob" WHERE "id" = ${blob.id}`);
        const usage = await tx.rows<{ storageUsedBytes: bigint }>(sql`
          SELECT "storageUsedBytes" FROM "Registry" WHERE "id" = ${registryId}::uuid`);
        return { kind: 'quota-exceeded', usedBytes: Number(usage[0]?.storageUsedBytes ?? 0) };
      }
    }
    return { kind: blob.inserted ? 'created' : 'deduplicated' };
  }

  /**
   * Cross-repository mount: links the blob of `fromRepository` to
   * `toRepository`. Undefined when the source does not have it (or hides
   * it), or garbage collection is deleting it: the client uploads instead.
   * The source row is locked FOR KEY SHARE (GC skips it) and its lastUsedAt
   * refreshed, so the manifest that will reference it has the grace period.
   */
  async mount(registryId: string, fromRepository: string, toRepository: string, digest: string): Promise<{ size: number } | undefined> {
    return this.db.transaction(async (tx) => {
      const source = await tx.rows<{ id: bigint; size: bigint; stale: boolean }>(sql`
        SELECT b."id", b."size", ${BLOB_IS_STALE} AS "stale"
        FROM "Repository" r
        JOIN "RepositoryBlob" rb ON rb."repositoryId" = r."id"
        JOIN "Blob" b ON b."id" = rb."blobId"
        WHERE r."registryId" = ${registryId}::uuid AND r."name" = ${fromRepository} AND r."readEnabled" AND b."digest" = ${digest}
        FOR KEY SHARE OF b`);
      const blob = source[0];
      if (!blob) return undefined;
      const repository = await ensureRepository(tx, registryId, toRepository);
      await tx.execute(sql`
        INSERT INTO "RepositoryBlob" ("repositoryId", "blobId", "createdAt") VALUES (${repository.id}::uuid, ${blob.id}, now())
        ON CONFLICT DO NOTHING`);
      if (blob.stale) await touchIfStale(tx, [blob.id]);
      return { size: Number(blob.size) };
    }, TX_OPTIONS);
  }
}

/**
 * Refreshes lastUsedAt (database clock) of those blobs not used for
 * LAST_USED_REFRESH_SECONDS. Rows are locked in id order, so transactions
 * refreshing overlapping sets cannot deadlock.
 */
export async function touchIfStale(tx: SqlClient, blobIds: bigint[]): Promise<void> {
  if (blobIds.length === 0) return;
  await tx.execute(sql`
    UPDATE "Blob" SET "lastUsedAt" = now()
    WHERE "id" IN (
      SELECT b."id" FROM "Blob" b
      WHERE b."id" = ANY(${blobIds}::bigint[]) AND ${BLOB_IS_STALE}
      ORDER BY b."id" FOR NO KEY UPDATE)`);
}
