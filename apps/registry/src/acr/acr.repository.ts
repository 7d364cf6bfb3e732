import { deleteRepository, sql, type RepositoryDeleteResult, type RepositoryDeleteTarget, type SqlFragment, type SqlPool } from '@berth/db/plain';
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

  /** Deletes a repository and everything in it, in one transaction (see deleteRepository in @berth/db). */
  deleteRepository(target: RepositoryDeleteTarget): Promise<RepositoryDeleteResult> {
    return deleteRepository((work) => this.cache.write(target.registryId, () => this.db.transaction(work, TX_OPTIONS)), target);
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
