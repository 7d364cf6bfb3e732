import { randomUUID } from 'node:crypto';
import { digestLockKey, sql, writeOutboxEvent, type SqlClient, type SqlPool } from '@berth/db/plain';
import type { ImageDeletePayload, ImagePushPayload } from '@berth/events';
import type { MetadataCache } from '../data/metadata-cache';
import { TX_OPTIONS } from '../data/transactions';
import { BLOB_IS_STALE, touchIfStale } from '../blobs/blob.repository';
import { ensureRepository } from '../repositories/repository.repository';

export interface StoredManifest {
  digest: string;
  mediaType: string;
  size: number;
  /** undefined when not requested (HEAD). */
  payload: Uint8Array | undefined;
  subjectDigest: string | null;
  /** False when the repository, the manifest or the tag used has readEnabled=false. */
  readable: boolean;
}

/** A blob a manifest references, as its write transaction found (and locked) it. */
export interface LinkedBlob {
  size: number;
  storageKey: string;
}

export interface NewManifest {
  registryId: string;
  repositoryName: string;
  digest: string;
  mediaType: string;
  artifactType: string | undefined;
  payload: Buffer;
  subjectDigest: string | undefined;
  configDigest: string | undefined;
  configMediaType: string | undefined;
  /**
   * Called inside the write transaction with the referenced blobs as found
   * (and key-share locked) there: checks the manifest's descriptors against
   * them, throwing to refuse the write, and returns architecture/os from the
   * image config (undefined when unknown).
   */
  inspect: (blobs: ReadonlyMap<string, LinkedBlob>) => Promise<{ architecture?: string; os?: string } | undefined>;
  annotations: Record<string, string> | undefined;
  /**
   * Digests of the blobs the manifest references (distinct). They are found
   * linked to the repository and locked inside the write transaction; one
   * that is missing refuses the write.
   */
  blobDigests: string[];
  /** Digests of child manifests (index / manifest list), which must exist in the repository. */
  childDigests: string[];
  tag: string | undefined;
}

/** Why a manifest write was refused inside its transaction. */
export class ManifestWriteRefused extends Error {
  constructor(
    readonly reason: 'repository-locked' | 'tag-locked' | 'missing-blobs' | 'missing-children' | 'manifest-locked' | 'referenced' | 'unknown',
    readonly detail?: unknown,
  ) {
    super(reason);
  }
}

/** Serialises usage accounting of one digest in one registry (manifests are per repository, usage per registry). */
async function lockDigest(tx: SqlClient, registryId: string, digest: string): Promise<void> {
  await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtext(${digestLockKey(registryId, digest)}))`);
}

/** The manifest's bytes, or none for HEAD requests. */
const PAYLOAD = sql.raw('m."payload"');
const NO_PAYLOAD = sql.raw('NULL::bytea AS "payload"');

/** Manifest and tag metadata. */
export class ManifestRepository {
  constructor(
    private readonly db: SqlPool,
    /** Answers of the lookups below, dropped on every change (see MetadataCache). */
    private readonly cache: MetadataCache,
  ) {}

  /** Hot path (pulls and HEADs): from the metadata cache, else one prepared statement. */
  async findByTag(registryId: string, repositoryName: string, tag: string, withPayload: boolean): Promise<StoredManifest | undefined> {
    const load = () => this.queryByTag(registryId, repositoryName, tag, withPayload);
    return this.cache.get(registryId, `manifest:${withPayload}:${repositoryName}:${tag}`, load, storedBytes);
  }

  async findByDigest(registryId: string, repositoryName: string, digest: string, withPayload: boolean): Promise<StoredManifest | undefined> {
    const load = () => this.queryByDigest(registryId, repositoryName, digest, withPayload);
    return this.cache.get(registryId, `manifest:${withPayload}:${repositoryName}@${digest}`, load, storedBytes);
  }

  private async queryByTag(registryId: string, repositoryName: string, tag: string, withPayload: boolean): Promise<StoredManifest | undefined> {
    const rows = await this.db.rows<RawManifest>(sql`
      SELECT m."digest", m."mediaType", m."size", m."subjectDigest", ${withPayload ? PAYLOAD : NO_PAYLOAD},
             (r."readEnabled" AND m."readEnabled" AND t."readEnabled") AS "readable"
      FROM "Repository" r
      JOIN "Tag" t ON t."repositoryId" = r."id"
      JOIN "Manifest" m ON m."id" = t."manifestId"
      WHERE r."registryId" = ${registryId}::uuid AND r."name" = ${repositoryName} AND t."name" = ${tag}`);
    return toStored(rows[0]);
  }

  private async queryByDigest(registryId: string, repositoryName: string, digest: string, withPayload: boolean): Promise<StoredManifest | undefined> {
    const rows = await this.db.rows<RawManifest>(sql`
      SELECT m."digest", m."mediaType", m."size", m."subjectDigest", ${withPayload ? PAYLOAD : NO_PAYLOAD},
             (r."readEnabled" AND m."readEnabled") AS "readable"
      FROM "Repository" r
      JOIN "Manifest" m ON m."repositoryId" = r."id"
      WHERE r."registryId" = ${registryId}::uuid AND r."name" = ${repositoryName} AND m."digest" = ${digest}`);
    return toStored(rows[0]);
  }

  /**
   * Stores a manifest, its blob and child references, the tag (when pushed by
   * tag) and the push event, in one transaction. Re-pushing identical content
   * is idempotent; moving a tag marks the manifest it left untagged when that
   * was its last tag. Usage grows by the manifest's size when its digest is
   * new to the registry.
   *
   * Garbage collection safety (the protocol in apps/worker's
   * blob-gc.processor.ts): before anything else the referenced blobs are
   * locked FOR KEY SHARE, in id order, and must still be linked to the
   * repository. GC locks a candidate FOR UPDATE SKIP LOCKED, so it skips
   * these rows until this transaction commits, and its re-check then sees
   * the ManifestBlob rows. When GC locked a row first and deletes it, our
   * lock waits, then finds no row: the push is refused with
   * MANIFEST_BLOB_UNKNOWN ('missing-blobs'), never a foreign-key failure.
   * Refuses (NAME_UNKNOWN) when the registry is being deleted.
   */
  async save(manifest: NewManifest, event: ImagePushPayload): Promise<void> {
    const { registryId, digest } = manifest;
    await this.changing(registryId, async (tx) => {
      const now = new Date();
      const repository = await ensureRepository(tx, registryId, manifest.repositoryName);
      if (!repository.writeEnabled) throw new ManifestWriteRefused('repository-locked');

      let blobIds: bigint[] = [];
      const found = new Map<string, LinkedBlob>();
      if (manifest.blobDigests.length > 0) {
        const blobs = await tx.rows<{ id: bigint; digest: string; size: bigint; storageKey: string; stale: boolean }>(sql`
          SELECT b."id", b."digest", b."size", b."storageKey", ${BLOB_IS_STALE} AS "stale"
          FROM "Blob" b
          JOIN "RepositoryBlob" rb ON rb."blobId" = b."id" AND rb."repositoryId" = ${repository.id}::uuid
          WHERE b."registryId" = ${registryId}::uuid AND b."digest" = ANY(${manifest.blobDigests}::text[])
          ORDER BY b."id"
          FOR KEY SHARE OF b`);
        for (const blob of blobs) found.set(blob.digest, { size: Number(blob.size), storageKey: blob.storageKey });
        const missing = manifest.blobDigests.filter((blobDigest) => !found.has(blobDigest));
        if (missing.length > 0) throw new ManifestWriteRefused('missing-blobs', missing);
        blobIds = blobs.map((blob) => blob.id);
        await touchIfStale(tx, blobs.filter((blob) => blob.stale).map((blob) => blob.id));
      }

      let childIds: bigint[] = [];
      if (manifest.childDigests.length > 0) {
        const children = await tx.rows<{ id: bigint; digest: string }>(sql`
          SELECT "id", "digest" FROM "Manifest"
          WHERE "repositoryId" = ${repository.id}::uuid AND "digest" = ANY(${manifest.childDigests}::text[])`);
        const found = new Set(children.map((child) => child.digest));
        const missing = manifest.childDigests.filter((child) => !found.has(child));
        if (missing.length > 0) throw new ManifestWriteRefused('missing-children', missing);
        childIds = children.map((child) => child.id);
      }

      // The config is read while the blobs' key-share locks keep garbage collection off them.
      const platform = await manifest.inspect(found);
      await lockDigest(tx, registryId, digest);
      // One statement for a new manifest: its row, its blob and child
      // references, and the registry's usage when no other repository holds
      // the digest (the NOT EXISTS reads the snapshot from before this
      // statement, so it sees other rows only; the digest lock above keeps
      // concurrent writers of the digest out). Nothing happens for a manifest
      // the repository already has.
      const inserted = await tx.rows<{ id: bigint }>(sql`
        WITH m AS (
          INSERT INTO "Manifest" ("registryId", "repositoryId", "digest", "mediaType", "artifactType", "size", "payload",
                                  "subjectDigest", "configDigest", "configMediaType", "architecture", "os", "annotations",
                                  "createdAt", "updatedAt")
          VALUES (${registryId}::uuid, ${repository.id}::uuid, ${digest}, ${manifest.mediaType}, ${manifest.artifactType ?? null},
                  ${manifest.payload.length}, ${manifest.payload}, ${manifest.subjectDigest ?? null}, ${manifest.configDigest ?? null},
                  ${manifest.configMediaType ?? null}, ${platform?.architecture ?? null}, ${platform?.os ?? null},
                  ${manifest.annotations ? JSON.stringify(manifest.annotations) : null}::jsonb, ${now}, ${now})
          ON CONFLICT ("repositoryId", "digest") DO NOTHING
          RETURNING "id"
        ), blobs AS (
          INSERT INTO "ManifestBlob" ("manifestId", "blobId")
          SELECT m."id", b FROM m, unnest(${blobIds}::bigint[]) AS b
          ON CONFLICT DO NOTHING
        ), children AS (
          INSERT INTO "ManifestReference" ("parentId", "childId")
          SELECT m."id", c FROM m, unnest(${childIds}::bigint[]) AS c
          ON CONFLICT DO NOTHING
        ), usage AS (
          UPDATE "Registry" SET "storageUsedBytes" = "storageUsedBytes" + ${BigInt(manifest.payload.length)}
          WHERE "id" = ${registryId}::uuid AND EXISTS (SELECT 1 FROM m)
            AND NOT EXISTS (SELECT 1 FROM "Manifest" x WHERE x."registryId" = ${registryId}::uuid AND x."digest" = ${digest})
        )
        SELECT "id" FROM m`);
      let manifestId: bigint;
      const isNew = inserted[0] !== undefined;
      if (inserted[0]) {
        manifestId = inserted[0].id;
      } else {
        const existing = await tx.rows<{ id: bigint }>(sql`
          SELECT "id" FROM "Manifest" WHERE "repositoryId" = ${repository.id}::uuid AND "digest" = ${digest}`);
        manifestId = existing[0]!.id;
      }
      if (manifest.tag !== undefined) await this.pointTag(tx, repository.id, manifest.tag, manifestId, isNew, now);
      await writeOutboxEvent(tx, { registryId, type: 'image.push', payload: event });
    });
  }

  /**
   * Deletes a manifest by digest with its tags (ACR's delete-by-digest),
   * refusing when a lock attribute protects it or an index still references
   * it; writes the delete event. Returns the deleted manifest's media type.
   */
  async deleteByDigest(registryId: string, repositoryName: string, digest: string, event: (mediaType: string) => ImageDeletePayload): Promise<void> {
    await this.changing(registryId, async (tx) => {
      const rows = await tx.rows<{ id: bigint; size: number; mediaType: string; manifestDelete: boolean; repositoryDelete: boolean; tagLocked: boolean; referenced: boolean }>(sql`
        SELECT m."id", m."size", m."mediaType", m."deleteEnabled" AS "manifestDelete", r."deleteEnabled" AS "repositoryDelete",
               EXISTS (SELECT 1 FROM "Tag" t WHERE t."manifestId" = m."id" AND NOT t."deleteEnabled") AS "tagLocked",
               EXISTS (SELECT 1 FROM "ManifestReference" mr WHERE mr."childId" = m."id") AS "referenced"
        FROM "Repository" r
        JOIN "Manifest" m ON m."repositoryId" = r."id"
        WHERE r."registryId" = ${registryId}::uuid AND r."name" = ${repositoryName} AND m."digest" = ${digest}
        FOR UPDATE OF m`);
      const row = rows[0];
      if (!row) throw new ManifestWriteRefused('unknown');
      if (!row.repositoryDelete) throw new ManifestWriteRefused('repository-locked');
      if (!row.manifestDelete || row.tagLocked) throw new ManifestWriteRefused('manifest-locked');
      if (row.referenced) throw new ManifestWriteRefused('referenced');
      await tx.execute(sql`DELETE FROM "Manifest" WHERE "id" = ${row.id}`);
      await lockDigest(tx, registryId, digest);
      const elsewhere = await tx.rows<{ one: number }>(sql`
        SELECT 1 AS "one" FROM "Manifest" WHERE "registryId" = ${registryId}::uuid AND "digest" = ${digest} LIMIT 1`);
      if (!elsewhere[0]) {
        await tx.execute(sql`
          UPDATE "Registry" SET "storageUsedBytes" = GREATEST("storageUsedBytes" - ${BigInt(row.size)}, 0) WHERE "id" = ${registryId}::uuid`);
      }
      await writeOutboxEvent(tx, { registryId, type: 'image.delete', payload: event(row.mediaType) });
    });
  }

  /** Removes one tag (the manifest stays; no event, as in ACR). */
  async deleteTag(registryId: string, repositoryName: string, tag: string): Promise<void> {
    await this.changing(registryId, async (tx) => {
      const rows = await tx.rows<{ id: bigint; manifestId: bigint; tagDelete: boolean; repositoryDelete: boolean }>(sql`
        SELECT t."id", t."manifestId", t."deleteEnabled" AS "tagDelete", r."deleteEnabled" AS "repositoryDelete"
        FROM "Repository" r
        JOIN "Tag" t ON t."repositoryId" = r."id"
        WHERE r."registryId" = ${registryId}::uuid AND r."name" = ${repositoryName} AND t."name" = ${tag}
        FOR UPDATE OF t`);
      const row = rows[0];
      if (!row) throw new ManifestWriteRefused('unknown');
      if (!row.repositoryDelete) throw new ManifestWriteRefused('repository-locked');
      if (!row.tagDelete) throw new ManifestWriteRefused('tag-locked');
      await tx.execute(sql`DELETE FROM "Tag" WHERE "id" = ${row.id}`);
      await markUntaggedIfLast(tx, row.manifestId, new Date());
    });
  }

  /** A write transaction on the registry's metadata: its cached lookups are dropped once it ends, committed or not. */
  private changing<T>(registryId: string, work: (tx: SqlClient) => Promise<T>): Promise<T> {
    return this.cache.write(registryId, () => this.db.transaction(work, TX_OPTIONS));
  }

  /** Points `tag` at the manifest; `isNew`: the manifest was inserted by this transaction (so it is not marked untagged). */
  private async pointTag(tx: SqlClient, repositoryId: string, tag: string, manifestId: bigint, isNew: boolean, now: Date): Promise<void> {
    // Two rounds at most: if a concurrent push inserts the tag between our
    // SELECT and INSERT, the second round finds and updates it.
    for (let round = 0; round < 2; round++) {
      const existing = await tx.rows<{ id: bigint; manifestId: bigint; writeEnabled: boolean; manifestWrite: boolean }>(sql`
        SELECT t."id", t."manifestId", t."writeEnabled", m."writeEnabled" AS "manifestWrite"
        FROM "Tag" t JOIN "Manifest" m ON m."id" = t."manifestId"
        WHERE t."repositoryId" = ${repositoryId}::uuid AND t."name" = ${tag}
        FOR UPDATE OF t`);
      const current = existing[0];
      if (current) {
        if (current.manifestId !== manifestId) {
          // A locked tag, or a tag naming a locked manifest, is never moved.
          if (!current.writeEnabled || !current.manifestWrite) throw new ManifestWriteRefused('tag-locked');
          await tx.execute(sql`UPDATE "Tag" SET "manifestId" = ${manifestId}, "updatedAt" = ${now} WHERE "id" = ${current.id}`);
          await markUntaggedIfLast(tx, current.manifestId, now);
        }
        await tx.execute(sql`UPDATE "Manifest" SET "untaggedAt" = NULL WHERE "id" = ${manifestId} AND "untaggedAt" IS NOT NULL`);
        return;
      }
      const inserted = await tx.rows<{ id: bigint }>(sql`
        INSERT INTO "Tag" ("repositoryId", "name", "manifestId", "createdAt", "updatedAt")
        VALUES (${repositoryId}::uuid, ${tag}, ${manifestId}, ${now}, ${now})
        ON CONFLICT ("repositoryId", "name") DO NOTHING
        RETURNING "id"`);
      if (inserted[0]) {
        if (!isNew) await tx.execute(sql`UPDATE "Manifest" SET "untaggedAt" = NULL WHERE "id" = ${manifestId} AND "untaggedAt" IS NOT NULL`);
        return;
      }
    }
    throw new Error(`could not point tag ${tag}`);
  }
}

async function markUntaggedIfLast(tx: SqlClient, manifestId: bigint, now: Date): Promise<void> {
  await tx.execute(sql`
    UPDATE "Manifest" SET "untaggedAt" = ${now}
    WHERE "id" = ${manifestId} AND NOT EXISTS (SELECT 1 FROM "Tag" WHERE "manifestId" = ${manifestId})`);
}

interface RawManifest {
  digest: string;
  mediaType: string;
  size: number;
  subjectDigest: string | null;
  payload: Uint8Array | null;
  readable: boolean;
}

function toStored(row: RawManifest | undefined): StoredManifest | undefined {
  if (!row) return undefined;
  return {
    digest: row.digest,
    mediaType: row.mediaType,
    size: Number(row.size),
    payload: row.payload ?? undefined,
    subjectDigest: row.subjectDigest,
    readable: row.readable,
  };
}

/** A fresh event id for outbox payloads. */
export function newEventId(): string {
  return randomUUID();
}

/** Approximate bytes a cached manifest answer holds. */
function storedBytes(manifest: StoredManifest): number {
  return (manifest.payload?.byteLength ?? 0) + manifest.digest.length + manifest.mediaType.length;
}
