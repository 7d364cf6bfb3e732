import { digestLockKey, sql, writeOutboxEvent, type SqlClient, type SqlFragment, type SqlPool } from '@berth/db';
import type { RepositoryDeletePayload } from '@berth/events';
import type { MetadataCache } from '../data/metadata-cache';
import { TX_OPTIONS } from '../data/transactions';
import type { AttributeChanges, ChangeableAttributes } from './acr.dto';

/** `name`: by name (tags) or digest (manifests); the time orders walk (updatedAt, name) keysets. */
export type ListOrder = 'name' | 'timeasc' | 'timedesc';

export interface PageRequest {
  /** Exclusive start: the last name (or digest) of the previous page; '' = from the beginning. */
  last: string;
  limit: number;
  order: ListOrder;
}

export interface RepositoryRecord {
  name: string;
  createdAt: Date;
  /** Latest of the repository's, its manifests' and its tags' update times. */
  lastUpdatedAt: Date;
  manifestCount: number;
  tagCount: number;
  attributes: ChangeableAttributes;
}

export interface TagRecord {
  name: string;
  digest: string;
  createdAt: Date;
  updatedAt: Date;
  attributes: ChangeableAttributes;
}

export interface ManifestRecord {
  digest: string;
  /** The manifest's bytes plus those of the blobs it references. */
  imageSize: number;
  mediaType: string;
  configMediaType: string | null;
  architecture: string | null;
  os: string | null;
  createdAt: Date;
  updatedAt: Date;
  attributes: ChangeableAttributes;
  /** Listed tags (listEnabled) pointing at the manifest, by name. */
  tags: string[];
  references: Array<{ digest: string; architecture: string | null; os: string | null }>;
}

export type RepositoryDeleteResult =
  | { kind: 'deleted'; manifestsDeleted: string[]; tagsDeleted: string[] }
  | { kind: 'unknown' }
  /** Something in the repository has deleteEnabled=false; nothing was deleted. */
  | { kind: 'locked'; repository: boolean; manifests: string[]; tags: string[] };

/** How many locked items a refusal names at most (the message must stay readable). */
const MAX_LOCKED_REPORTED = 20;
/** Attempts of a repository delete that found a digest lock taken, and the pause before the next (times the attempt). */
const DELETE_ATTEMPTS = 8;
const DELETE_RETRY_MS = 25;

/** Another transaction holds the usage lock of one of the repository's digests: roll back and start over. */
class DigestLockBusy extends Error {}

/** Thrown when the repository kept changing under a delete; the caller answers "retry". */
export class RepositoryBusy extends Error {}

interface FlagColumns {
  deleteEnabled: boolean;
  writeEnabled: boolean;
  readEnabled: boolean;
  listEnabled: boolean;
}

function attributesOf(row: FlagColumns): ChangeableAttributes {
  return { deleteEnabled: row.deleteEnabled, writeEnabled: row.writeEnabled, readEnabled: row.readEnabled, listEnabled: row.listEnabled };
}

/**
 * Metadata of the ACR extension API. Listings are index-driven keyset pages
 * (`name > last ORDER BY name LIMIT n` on the unique (repositoryId, name) /
 * (repositoryId, digest) indexes); the time orders sort the repository's rows
 * by (updatedAt, name). Every query is scoped by the registry id.
 */
export class AcrRepository {
  constructor(
    private readonly db: SqlPool,
    /** Dropped for the registry after each change here (see MetadataCache). */
    private readonly cache: MetadataCache,
  ) {}

  async findRepository(registryId: string, name: string): Promise<RepositoryRecord | undefined> {
    const rows = await this.db.rows<FlagColumns & { name: string; createdAt: Date; lastUpdatedAt: Date; manifestCount: bigint; tagCount: bigint }>(sql`
      SELECT r."name", r."createdAt", r."deleteEnabled", r."writeEnabled", r."readEnabled", r."listEnabled",
             GREATEST(r."updatedAt",
                      (SELECT max(m."updatedAt") FROM "Manifest" m WHERE m."repositoryId" = r."id"),
                      (SELECT max(t."updatedAt") FROM "Tag" t WHERE t."repositoryId" = r."id")) AS "lastUpdatedAt",
             (SELECT count(*) FROM "Manifest" m WHERE m."repositoryId" = r."id") AS "manifestCount",
             (SELECT count(*) FROM "Tag" t WHERE t."repositoryId" = r."id") AS "tagCount"
      FROM "Repository" r
      WHERE r."registryId" = ${registryId}::uuid AND r."name" = ${name}`);
    const row = rows[0];
    if (!row) return undefined;
    return {
      name: row.name,
      createdAt: row.createdAt,
      lastUpdatedAt: row.lastUpdatedAt,
      manifestCount: Number(row.manifestCount),
      tagCount: Number(row.tagCount),
      attributes: attributesOf(row),
    };
  }

  /**
   * Sets the named attributes; false when the repository does not exist.
   * Update times are left alone: they date content changes (pushes, tag
   * moves), which the time-ordered listings follow.
   */
  async updateRepositoryAttributes(registryId: string, name: string, changes: AttributeChanges): Promise<boolean> {
    const updated = await this.cache.write(registryId, () =>
      this.db.execute(sql`
        UPDATE "Repository" SET ${assignments(changes)}
        WHERE "registryId" = ${registryId}::uuid AND "name" = ${name}`),
    );
    return updated > 0;
  }

  /** Listed tags (listEnabled) of the repository, optionally only those naming `digest`. */
  async listTags(registryId: string, repositoryId: string, page: PageRequest, digest: string | undefined): Promise<TagRecord[]> {
    const keyset = page.last === '' ? sql.empty : tagKeyset(repositoryId, page);
    const rows = await this.db.rows<RawTag>(sql`
      SELECT t."name", m."digest", t."createdAt", t."updatedAt", t."deleteEnabled", t."writeEnabled", t."readEnabled", t."listEnabled"
      FROM "Tag" t
      JOIN "Repository" r ON r."id" = t."repositoryId"
      JOIN "Manifest" m ON m."id" = t."manifestId"
      WHERE t."repositoryId" = ${repositoryId}::uuid AND r."registryId" = ${registryId}::uuid AND t."listEnabled"
        ${digest === undefined ? sql.empty : sql`AND m."digest" = ${digest}`}
        ${keyset}
      ORDER BY ${orderBy(page.order, 't."name"')}
      LIMIT ${page.limit}`);
    return rows.map(toTag);
  }

  async findTag(registryId: string, repositoryId: string, tag: string): Promise<TagRecord | undefined> {
    const rows = await this.db.rows<RawTag>(sql`
      SELECT t."name", m."digest", t."createdAt", t."updatedAt", t."deleteEnabled", t."writeEnabled", t."readEnabled", t."listEnabled"
      FROM "Tag" t
      JOIN "Repository" r ON r."id" = t."repositoryId"
      JOIN "Manifest" m ON m."id" = t."manifestId"
      WHERE t."repositoryId" = ${repositoryId}::uuid AND r."registryId" = ${registryId}::uuid AND t."name" = ${tag}`);
    return rows[0] ? toTag(rows[0]) : undefined;
  }

  /** Sets the named attributes of a tag; false when the tag does not exist. */
  async updateTagAttributes(registryId: string, repositoryId: string, tag: string, changes: AttributeChanges): Promise<boolean> {
    const updated = await this.cache.write(registryId, () =>
      this.db.execute(sql`
        UPDATE "Tag" t SET ${assignments(changes)}
        FROM "Repository" r
        WHERE r."id" = t."repositoryId" AND r."registryId" = ${registryId}::uuid
          AND t."repositoryId" = ${repositoryId}::uuid AND t."name" = ${tag}`),
    );
    return updated > 0;
  }

  /** Listed manifests (listEnabled) of the repository, with their listed tags and child platforms. */
  async listManifests(registryId: string, repositoryId: string, page: PageRequest): Promise<ManifestRecord[]> {
    const keyset = page.last === '' ? sql.empty : manifestKeyset(repositoryId, page);
    const rows = await this.db.rows<RawManifest>(sql`
      SELECT ${MANIFEST_COLUMNS}
      FROM "Manifest" m
      WHERE m."repositoryId" = ${repositoryId}::uuid AND m."registryId" = ${registryId}::uuid AND m."listEnabled"
        ${keyset}
      ORDER BY ${orderBy(page.order, 'm."digest"')}
      LIMIT ${page.limit}`);
    return this.withTagsAndReferences(rows);
  }

  async findManifest(registryId: string, repositoryId: string, digest: string): Promise<ManifestRecord | undefined> {
    const rows = await this.db.rows<RawManifest>(sql`
      SELECT ${MANIFEST_COLUMNS}
      FROM "Manifest" m
      WHERE m."repositoryId" = ${repositoryId}::uuid AND m."registryId" = ${registryId}::uuid AND m."digest" = ${digest}`);
    return (await this.withTagsAndReferences(rows))[0];
  }

  /** Sets the named attributes of a manifest; false when the manifest does not exist. */
  async updateManifestAttributes(registryId: string, repositoryId: string, digest: string, changes: AttributeChanges): Promise<boolean> {
    const updated = await this.cache.write(registryId, () =>
      this.db.execute(sql`
        UPDATE "Manifest" SET ${assignments(changes)}
        WHERE "repositoryId" = ${repositoryId}::uuid AND "registryId" = ${registryId}::uuid AND "digest" = ${digest}`),
    );
    return updated > 0;
  }

  /**
   * Deletes a repository: its manifests, tags, index references, blob links
   * and the repository row (so its lock attributes go too, as in ACR), with
   * one `repository.delete` outbox event, in one transaction. Blobs stay for
   * the garbage collector; once unlinked they can no longer be read through
   * this repository.
   *
   * Storage usage follows the manifest delete path: a manifest's bytes leave
   * Registry.storageUsedBytes when no other repository of the registry holds
   * the same digest, decided under the per-digest advisory lock the push and
   * delete paths take.
   *
   * Locks, in this order: the repository row FOR UPDATE (no manifest, tag or
   * blob link can be added to the repository until commit: their inserts
   * need a key-share lock on it), its tag rows, its manifest rows (the order
   * in which a /v2 untag takes a tag, then its manifest), then the digest
   * locks, only *tried*: a push holds its digest lock while it waits for the
   * repository row, so waiting for the digest here could deadlock. When one
   * is taken, everything rolls back and the delete starts over shortly after.
   */
  async deleteRepository(
    registryId: string,
    name: string,
    event: (deleted: { manifestsDeleted: string[]; tagsDeleted: string[] }) => RepositoryDeletePayload,
  ): Promise<RepositoryDeleteResult> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.cache.write(registryId, () => this.db.transaction((tx) => this.deleteRepositoryOnce(tx, registryId, name, event), TX_OPTIONS));
      } catch (error) {
        if (!(error instanceof DigestLockBusy)) throw error;
        if (attempt >= DELETE_ATTEMPTS) throw new RepositoryBusy(`repository ${name} kept being written to while being deleted`);
        await sleep(DELETE_RETRY_MS * attempt);
      }
    }
  }

  private async deleteRepositoryOnce(
    tx: SqlClient,
    registryId: string,
    name: string,
    event: (deleted: { manifestsDeleted: string[]; tagsDeleted: string[] }) => RepositoryDeletePayload,
  ): Promise<RepositoryDeleteResult> {
    const repositories = await tx.rows<{ id: string; deleteEnabled: boolean }>(sql`
      SELECT "id", "deleteEnabled" FROM "Repository"
      WHERE "registryId" = ${registryId}::uuid AND "name" = ${name}
      FOR UPDATE`);
    const repository = repositories[0];
    if (!repository) return { kind: 'unknown' };
    const tags = await tx.rows<{ name: string; deleteEnabled: boolean }>(sql`
      SELECT "name", "deleteEnabled" FROM "Tag" WHERE "repositoryId" = ${repository.id}::uuid ORDER BY "name" FOR UPDATE`);
    const manifests = await tx.rows<{ digest: string; size: number; deleteEnabled: boolean }>(sql`
      SELECT "digest", "size", "deleteEnabled" FROM "Manifest" WHERE "repositoryId" = ${repository.id}::uuid ORDER BY "digest" FOR UPDATE`);

    // Read from the locked rows, so a lock attribute set a moment ago counts.
    const lockedManifests = manifests.filter((manifest) => !manifest.deleteEnabled).map((manifest) => manifest.digest);
    const lockedTags = tags.filter((tag) => !tag.deleteEnabled).map((tag) => tag.name);
    if (!repository.deleteEnabled || lockedManifests.length > 0 || lockedTags.length > 0) {
      return {
        kind: 'locked',
        repository: !repository.deleteEnabled,
        manifests: lockedManifests.slice(0, MAX_LOCKED_REPORTED),
        tags: lockedTags.slice(0, MAX_LOCKED_REPORTED),
      };
    }

    const digests = manifests.map((manifest) => manifest.digest);
    if (digests.length > 0) {
      const keys = digests.map((digest) => digestLockKey(registryId, digest));
      const taken = await tx.rows<{ all: boolean }>(sql`
        SELECT bool_and(pg_try_advisory_xact_lock(hashtext(k.key))) AS "all"
        FROM (SELECT key FROM unnest(${keys}::text[]) AS key ORDER BY key) AS k`);
      if (!taken[0]?.all) throw new DigestLockBusy();
    }

    // Children are referenced only from indexes of the same repository, so
    // dropping this repository's reference rows first frees every manifest.
    await tx.execute(sql`
      DELETE FROM "ManifestReference" mr USING "Manifest" m
      WHERE mr."parentId" = m."id" AND m."repositoryId" = ${repository.id}::uuid`);
    await tx.execute(sql`DELETE FROM "Tag" WHERE "repositoryId" = ${repository.id}::uuid`);
    await tx.execute(sql`DELETE FROM "Manifest" WHERE "repositoryId" = ${repository.id}::uuid`);
    await tx.execute(sql`DELETE FROM "RepositoryBlob" WHERE "repositoryId" = ${repository.id}::uuid`);
    await tx.execute(sql`DELETE FROM "Repository" WHERE "id" = ${repository.id}::uuid`);

    if (digests.length > 0) {
      const gone = await tx.rows<{ digest: string }>(sql`
        SELECT d."digest" FROM unnest(${digests}::text[]) AS d("digest")
        WHERE NOT EXISTS (SELECT 1 FROM "Manifest" m WHERE m."registryId" = ${registryId}::uuid AND m."digest" = d."digest")`);
      const goneSet = new Set(gone.map((row) => row.digest));
      const freed = manifests.reduce((sum, manifest) => (goneSet.has(manifest.digest) ? sum + BigInt(manifest.size) : sum), 0n);
      if (freed > 0n) {
        await tx.execute(sql`
          UPDATE "Registry" SET "storageUsedBytes" = GREATEST("storageUsedBytes" - ${freed}, 0) WHERE "id" = ${registryId}::uuid`);
      }
    }

    const deleted = { manifestsDeleted: digests, tagsDeleted: tags.map((tag) => tag.name) };
    await writeOutboxEvent(tx, { registryId, type: 'repository.delete', payload: event(deleted) });
    return { kind: 'deleted', ...deleted };
  }

  /** Adds the listed tags and child platforms of a page of manifests (two queries for the whole page). */
  private async withTagsAndReferences(rows: RawManifest[]): Promise<ManifestRecord[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((row) => row.id);
    const tags = await this.db.rows<{ manifestId: bigint; name: string }>(sql`
      SELECT "manifestId", "name" FROM "Tag" WHERE "manifestId" = ANY(${ids}::bigint[]) AND "listEnabled" ORDER BY "name"`);
    const references = await this.db.rows<{ parentId: bigint; digest: string; architecture: string | null; os: string | null }>(sql`
      SELECT mr."parentId", c."digest", c."architecture", c."os"
      FROM "ManifestReference" mr JOIN "Manifest" c ON c."id" = mr."childId"
      WHERE mr."parentId" = ANY(${ids}::bigint[])
      ORDER BY c."digest"`);
    const tagsOf = groupBy(tags, (tag) => tag.manifestId);
    const referencesOf = groupBy(references, (reference) => reference.parentId);
    return rows.map((row) => ({
      digest: row.digest,
      imageSize: Number(row.imageSize),
      mediaType: row.mediaType,
      configMediaType: row.configMediaType,
      architecture: row.architecture,
      os: row.os,
      createdAt: row.createdAt,
      updatedAt: row.updatedAt,
      attributes: attributesOf(row),
      tags: (tagsOf.get(row.id) ?? []).map((tag) => tag.name),
      references: (referencesOf.get(row.id) ?? []).map((reference) => ({
        digest: reference.digest,
        architecture: reference.architecture,
        os: reference.os,
      })),
    }));
  }
}

/** imageSize (ACR) = the manifest's bytes plus the blobs (config, layers) it references. */
const MANIFEST_COLUMNS = sql`m."id", m."digest", m."mediaType",
  (m."size" + COALESCE((SELECT sum(b."size") FROM "ManifestBlob" mb JOIN "Blob" b ON b."id" = mb."blobId" WHERE mb."manifestId" = m."id"), 0))::bigint AS "imageSize", m."configMediaType", m."architecture", m."os",
  m."createdAt", m."updatedAt", m."deleteEnabled", m."writeEnabled", m."readEnabled", m."listEnabled"`;

interface RawTag extends FlagColumns {
  name: string;
  digest: string;
  createdAt: Date;
  updatedAt: Date;
}

interface RawManifest extends FlagColumns {
  id: bigint;
  digest: string;
  imageSize: bigint;
  mediaType: string;
  configMediaType: string | null;
  architecture: string | null;
  os: string | null;
  createdAt: Date;
  updatedAt: Date;
}

function toTag(row: RawTag): TagRecord {
  return { name: row.name, digest: row.digest, createdAt: row.createdAt, updatedAt: row.updatedAt, attributes: attributesOf(row) };
}

/** `SET` list of a partial attribute update; the caller guarantees at least one attribute. */
function assignments(changes: AttributeChanges): SqlFragment {
  const parts: SqlFragment[] = [];
  // Column names come from this fixed list, never from the request.
  if (changes.deleteEnabled !== undefined) parts.push(sql`"deleteEnabled" = ${changes.deleteEnabled}`);
  if (changes.writeEnabled !== undefined) parts.push(sql`"writeEnabled" = ${changes.writeEnabled}`);
  if (changes.readEnabled !== undefined) parts.push(sql`"readEnabled" = ${changes.readEnabled}`);
  if (changes.listEnabled !== undefined) parts.push(sql`"listEnabled" = ${changes.listEnabled}`);
  if (parts.length === 0) throw new Error('no attribute to update');
  return sql.join(parts, ', ');
}

function orderBy(order: ListOrder, key: 't."name"' | 'm."digest"'): SqlFragment {
  const table = key.slice(0, 1);
  switch (order) {
    case 'name':
      return sql.raw(key);
    case 'timeasc':
      return sql.raw(`${table}."updatedAt", ${key}`);
    case 'timedesc':
      return sql.raw(`${table}."updatedAt" DESC, ${key} DESC`);
  }
}

/** Rows after `last`; in the time orders `last` names a row whose (updatedAt, name) is the cursor (none found = empty page). */
function tagKeyset(repositoryId: string, page: PageRequest): SqlFragment {
  if (page.order === 'name') return sql`AND t."name" > ${page.last}`;
  const cursor = sql`(SELECT l."updatedAt", l."name" FROM "Tag" l WHERE l."repositoryId" = ${repositoryId}::uuid AND l."name" = ${page.last})`;
  return page.order === 'timeasc'
    ? sql`AND (t."updatedAt", t."name") > ${cursor}`
    : sql`AND (t."updatedAt", t."name") < ${cursor}`;
}

function manifestKeyset(repositoryId: string, page: PageRequest): SqlFragment {
  if (page.order === 'name') return sql`AND m."digest" > ${page.last}`;
  const cursor = sql`(SELECT l."updatedAt", l."digest" FROM "Manifest" l WHERE l."repositoryId" = ${repositoryId}::uuid AND l."digest" = ${page.last})`;
  return page.order === 'timeasc'
    ? sql`AND (m."updatedAt", m."digest") > ${cursor}`
    : sql`AND (m."updatedAt", m."digest") < ${cursor}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function groupBy<T, K>(items: T[], key: (item: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}
