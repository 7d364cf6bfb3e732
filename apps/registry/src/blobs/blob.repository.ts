import type { Db } from '@berth/db';
import type { ReadPool } from '../data/read-pool';
import { TX_OPTIONS } from '../data/transactions';
import { ensureRepository } from '../repositories/repository.repository';

export interface LinkedBlob {
  size: number;
  storageKey: string;
  repositoryReadEnabled: boolean;
}

export type CommitResult = { kind: 'created' } | { kind: 'deduplicated' } | { kind: 'quota-exceeded'; usedBytes: number };

/**
 * Blob metadata. Postgres maps (registry, digest) → storage key; a blob is
 * visible only through repositories linked to it (RepositoryBlob).
 */
export class BlobRepository {
  constructor(
    private readonly db: Db,
    private readonly reads: ReadPool,
  ) {}

  /** The blob `digest` as readable through `repositoryName`, or undefined when not linked there (hot path: prepared statement). */
  async findLinked(registryId: string, repositoryName: string, digest: string): Promise<LinkedBlob | undefined> {
    const rows = await this.reads.query<{ size: string; storageKey: string; readEnabled: boolean }>(
      'blob.find-linked',
      `SELECT b."size", b."storageKey", r."readEnabled"
       FROM "Repository" r
       JOIN "RepositoryBlob" rb ON rb."repositoryId" = r."id"
       JOIN "Blob" b ON b."id" = rb."blobId"
       WHERE r."registryId" = $1 AND r."name" = $2 AND b."digest" = $3`,
      [registryId, repositoryName, digest],
    );
    const row = rows[0];
    return row ? { size: Number(row.size), storageKey: row.storageKey, repositoryReadEnabled: row.readEnabled } : undefined;
  }

  /** Whether the blobs with these digests are linked to the repository, with their ids and sizes. */
  async findLinkedMany(registryId: string, repositoryName: string, digests: string[]): Promise<Map<string, { id: bigint; size: number; storageKey: string }>> {
    if (digests.length === 0) return new Map();
    const rows = await this.db.$queryRaw<Array<{ id: bigint; digest: string; size: bigint; storageKey: string }>>`
      SELECT b."id", b."digest", b."size", b."storageKey"
      FROM "Repository" r
      JOIN "RepositoryBlob" rb ON rb."repositoryId" = r."id"
      JOIN "Blob" b ON b."id" = rb."blobId"
      WHERE r."registryId" = ${registryId}::uuid AND r."name" = ${repositoryName} AND b."digest" = ANY(${digests}::text[])`;
    return new Map(rows.map((row) => [row.digest, { id: row.id, size: Number(row.size), storageKey: row.storageKey }]));
  }

  /**
   * Removes the blob's link to the repository (the bytes stay for other
   * repositories; garbage collection reclaims unreferenced blobs later).
   */
  async unlink(registryId: string, repositoryName: string, digest: string): Promise<'unlinked' | 'unknown' | 'locked'> {
    return this.db.$transaction(async (tx) => {
      const rows = await tx.$queryRaw<Array<{ repositoryId: string; blobId: bigint; deleteEnabled: boolean }>>`
        SELECT rb."repositoryId", rb."blobId", r."deleteEnabled"
        FROM "Repository" r
        JOIN "RepositoryBlob" rb ON rb."repositoryId" = r."id"
        JOIN "Blob" b ON b."id" = rb."blobId"
        WHERE r."registryId" = ${registryId}::uuid AND r."name" = ${repositoryName} AND b."digest" = ${digest}
        FOR UPDATE OF rb`;
      const row = rows[0];
      if (!row) return 'unknown';
      if (!row.deleteEnabled) return 'locked';
      await tx.$executeRaw`DELETE FROM "RepositoryBlob" WHERE "repositoryId" = ${row.repositoryId}::uuid AND "blobId" = ${row.blobId}`;
      return 'unlinked';
    }, TX_OPTIONS);
  }

  /**
   * Records a verified upload as a blob of the registry and links it to the
   * repository, in one transaction with the storage usage update and the
   * removal of the upload session. When the registry already has the digest
   * the existing blob is linked instead ('deduplicated': the caller deletes
   * the new bytes). Usage counts each distinct blob of a registry once, and
   * may not exceed `quotaBytes`.
   */
  async commitUpload(input: {
    registryId: string;
    repositoryName: string;
    uploadId: string;
    digest: string;
    size: number;
    storageKey: string;
    quotaBytes: number;
  }): Promise<CommitResult> {
    const { registryId, digest, size } = input;
    const now = new Date();
    return this.db.$transaction(async (tx) => {
      const repository = await ensureRepository(tx, registryId, input.repositoryName);
      let blobId: bigint;
      let kind: 'created' | 'deduplicated';
      const inserted = await tx.$queryRaw<Array<{ id: bigint }>>`
        INSERT INTO "Blob" ("registryId", "digest", "size", "storageKey", "createdAt", "lastUsedAt")
        VALUES (${registryId}::uuid, ${digest}, ${BigInt(size)}, ${input.storageKey}, ${now}, ${now})
        ON CONFLICT ("registryId", "digest") DO NOTHING
        RETURNING "id"`;
      if (inserted[0]) {
        const updated = await tx.$queryRaw<Array<{ storageUsedBytes: bigint }>>`
          UPDATE "Registry" SET "storageUsedBytes" = "storageUsedBytes" + ${BigInt(size)}
          WHERE "id" = ${registryId}::uuid AND "storageUsedBytes" + ${BigInt(size)} <= ${BigInt(input.quotaBytes)}
          RETURNING "storageUsedBytes"`;
        if (!updated[0]) {
          const usage = await tx.registry.findUnique({ where: { id: registryId }, select: { storageUsedBytes: true } });
          // Throwing rolls the blob row back; the caller discards the bytes.
          throw new QuotaExceeded(Number(usage?.storageUsedBytes ?? 0));
        }
        blobId = inserted[0].id;
        kind = 'created';
      } else {
        const existing = await tx.$queryRaw<Array<{ id: bigint }>>`
          UPDATE "Blob" SET "lastUsedAt" = ${now}
          WHERE "registryId" = ${registryId}::uuid AND "digest" = ${digest}
          RETURNING "id"`;
        if (!existing[0]) throw new Error(`blob ${digest} vanished during commit`);
        blobId = existing[0].id;
        kind = 'deduplicated';
      }
      await tx.$executeRaw`
        INSERT INTO "RepositoryBlob" ("repositoryId", "blobId", "createdAt") VALUES (${repository.id}::uuid, ${blobId}, ${now})
        ON CONFLICT DO NOTHING`;
      await tx.$executeRaw`DELETE FROM "Upload" WHERE "id" = ${input.uploadId}::uuid AND "registryId" = ${registryId}::uuid`;
      return { kind };
    }, TX_OPTIONS).catch((error: unknown) => {
      if (error instanceof QuotaExceeded) return { kind: 'quota-exceeded', usedBytes: error.usedBytes } as const;
      throw error;
    });
  }

  /**
   * Cross-repository mount: links the blob of `fromRepository` to
   * `toRepository`. False when the source does not have it (or hides it).
   */
  async mount(registryId: string, fromRepository: string, toRepository: string, digest: string): Promise<{ size: number } | undefined> {
    const now = new Date();
    return this.db.$transaction(async (tx) => {
      const source = await tx.$queryRaw<Array<{ id: bigint; size: bigint }>>`
        SELECT b."id", b."size"
        FROM "Repository" r
        JOIN "RepositoryBlob" rb ON rb."repositoryId" = r."id"
        JOIN "Blob" b ON b."id" = rb."blobId"
        WHERE r."registryId" = ${registryId}::uuid AND r."name" = ${fromRepository} AND r."readEnabled" AND b."digest" = ${digest}
        FOR SHARE OF b`;
      if (!source[0]) return undefined;
      const repository = await ensureRepository(tx, registryId, toRepository);
      await tx.$executeRaw`
        INSERT INTO "RepositoryBlob" ("repositoryId", "blobId", "createdAt") VALUES (${repository.id}::uuid, ${source[0].id}, ${now})
        ON CONFLICT DO NOTHING`;
      await tx.$executeRaw`UPDATE "Blob" SET "lastUsedAt" = ${now} WHERE "id" = ${source[0].id}`;
      return { size: Number(source[0].size) };
    }, TX_OPTIONS);
  }
}

class QuotaExceeded extends Error {
  constructor(readonly usedBytes: number) {
    super('storage quota exceeded');
  }
}
