import type { Db } from '@berth/db';

export interface DeletedBlob {
  id: bigint;
  digest: string;
  size: bigint;
  storageKey: string;
}

/** Metadata side of the online blob GC and the storage sweep; see blob-gc.processor.ts for the protocol. */
export class BlobGcRepository {
  constructor(private readonly db: Db) {}

  /** Live registries (a Deleting one is the purge's), in id order after `afterId`. */
  async listRegistries(afterId: string | undefined, limit: number): Promise<Array<{ id: string }>> {
    return this.db.registry.findMany({
      where: { provisioningState: 'Succeeded', ...(afterId ? { id: { gt: afterId } } : {}) },
      select: { id: true },
      orderBy: { id: 'asc' },
      take: limit,
    });
  }

  /**
   * Blobs that look collectable: past the grace period, referenced by no
   * manifest, not the object of an upload in progress. Only a hint: the
   * delete re-checks all of it under the row lock.
   */
  async findCandidates(registryId: string, graceSeconds: number, afterId: bigint, limit: number): Promise<bigint[]> {
    const rows = await this.db.$queryRaw<Array<{ id: bigint }>>`
      SELECT b.id FROM "Blob" b
      WHERE b."registryId" = ${registryId}::uuid AND b.id > ${afterId}
        AND b."lastUsedAt" < now() - make_interval(secs => ${graceSeconds})
        AND NOT EXISTS (SELECT 1 FROM "ManifestBlob" mb WHERE mb."blobId" = b.id)
        AND NOT EXISTS (SELECT 1 FROM "Upload" u WHERE u."registryId" = b."registryId" AND u."storageKey" = b."storageKey")
      ORDER BY b.id LIMIT ${limit}`;
    return rows.map((row) => row.id);
  }

  /**
   * Deletes those of `ids` that are still collectable, in one transaction
   * that also takes their bytes off Registry.storageUsedBytes:
   *
   * 1. `SELECT … FOR UPDATE SKIP LOCKED` locks the blob rows no other
   *    transaction holds. A manifest PUT in flight holds its blobs (it
   *    updated lastUsedAt, or inserted ManifestBlob rows, which key-share
   *    locks them), so those are skipped this round.
   * 2. `DELETE … WHERE <conditions> RETURNING` is a new statement, so under
   *    READ COMMITTED it sees every transaction that committed before the
   *    locks were granted: a blob referenced or touched meanwhile stays.
   *
   * Storage objects are deleted by the caller after the commit.
   */
  async deleteUnreferenced(registryId: string, ids: bigint[], graceSeconds: number): Promise<DeletedBlob[]> {
    if (ids.length === 0) return [];
    return this.db.$transaction(async (tx) => {
      const locked = await tx.$queryRaw<Array<{ id: bigint }>>`
        SELECT id FROM "Blob" WHERE "registryId" = ${registryId}::uuid AND id = ANY(${ids}::bigint[])
        ORDER BY id FOR UPDATE SKIP LOCKED`;
      if (locked.length === 0) return [];
      const deleted = await tx.$queryRaw<DeletedBlob[]>`
        DELETE FROM "Blob" b
        WHERE b."registryId" = ${registryId}::uuid AND b.id = ANY(${locked.map((row) => row.id)}::bigint[])
          AND b."lastUsedAt" < now() - make_interval(secs => ${graceSeconds})
          AND NOT EXISTS (SELECT 1 FROM "ManifestBlob" mb WHERE mb."blobId" = b.id)
          AND NOT EXISTS (SELECT 1 FROM "Upload" u WHERE u."registryId" = b."registryId" AND u."storageKey" = b."storageKey")
        RETURNING b.id, b.digest, b.size, b."storageKey"`;
      if (deleted.length > 0) {
        const freed = deleted.reduce((sum, blob) => sum + blob.size, 0n);
        await tx.$executeRaw`
          UPDATE "Registry" SET "storageUsedBytes" = "storageUsedBytes" - ${freed} WHERE id = ${registryId}::uuid`;
      }
      return deleted;
    });
  }

  /** The keys among `keys` that a Blob or Upload row of the registry names. */
  async namedKeys(registryId: string, keys: string[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    const rows = await this.db.$queryRaw<Array<{ key: string }>>`
      SELECT "storageKey" AS key FROM "Blob" WHERE "registryId" = ${registryId}::uuid AND "storageKey" = ANY(${keys}::text[])
      UNION
      SELECT "storageKey" AS key FROM "Upload" WHERE "registryId" = ${registryId}::uuid AND "storageKey" = ANY(${keys}::text[])`;
    return new Set(rows.map((row) => row.key));
  }
}
