import { randomUUID } from 'node:crypto';
import { digestLockKey, writeOutboxEvent, type Db } from '@berth/db';
import type { ImageDeletePayload } from '@berth/events';

export interface RetentionRegistry {
  id: string;
  name: string;
  loginServer: string;
  retentionDays: number | null;
  retentionAllowed: boolean;
}

export interface RetentionRuleRow {
  id: string;
  name: string;
  repositoryPattern: string;
  tagPattern: string;
  keepLatest: number | null;
  olderThanSeconds: number | null;
  deleteUntagged: boolean;
}

export interface TagCandidate {
  id: bigint;
  tag: string;
  repository: string;
  manifestId: bigint;
  digest: string;
  updatedAt: Date;
}

export interface ManifestCandidate {
  id: bigint;
  repository: string;
  digest: string;
  mediaType: string;
}

const USER_AGENT = 'Berth-Worker/1.0 (retention)';

/**
 * Queries and deletes of the retention job. Candidate queries only select
 * unlocked items; the deletes lock the rows and re-check every condition in
 * a new statement, so a tag moved, a manifest re-tagged or an item locked
 * since the plan was made is left alone. Locked = deleteEnabled=false or
 * writeEnabled=false on the tag, its manifest or its repository.
 */
export class RetentionRepository {
  constructor(private readonly db: Db) {}

  async findRegistry(registryId: string): Promise<RetentionRegistry | undefined> {
    const row = await this.db.registry.findFirst({
      where: { id: registryId, provisioningState: 'Succeeded' },
      select: { id: true, name: true, loginServer: true, retentionDays: true, sku: { select: { retentionPolicyAllowed: true } } },
    });
    if (!row) return undefined;
    const { sku, ...registry } = row;
    return { ...registry, retentionAllowed: sku.retentionPolicyAllowed };
  }

  /** Registries whose SKU allows retention and that have a policy or an enabled rule. */
  async listRegistriesWithRetention(): Promise<string[]> {
    const rows = await this.db.registry.findMany({
      where: {
        provisioningState: 'Succeeded',
        sku: { retentionPolicyAllowed: true },
        OR: [{ retentionDays: { not: null } }, { retentionRules: { some: { enabled: true } } }],
      },
      select: { id: true },
      orderBy: { id: 'asc' },
    });
    return rows.map((row) => row.id);
  }

  async listRules(registryId: string): Promise<RetentionRuleRow[]> {
    return this.db.retentionRule.findMany({
      where: { registryId, enabled: true },
      select: { id: true, name: true, repositoryPattern: true, tagPattern: true, keepLatest: true, olderThanSeconds: true, deleteUntagged: true },
      orderBy: { name: 'asc' },
    });
  }

  /**
   * The registry policy's candidates: manifests with no tag, untagged (or,
   * never tagged, created) more than `days` ago, not a child of an index,
   * not a referrer whose subject is still there, and not locked.
   */
  async findExpiredUntaggedManifests(registryId: string, days: number, limit: number): Promise<ManifestCandidate[]> {
    return this.db.$queryRaw`
      SELECT m.id, r.name AS repository, m.digest, m."mediaType"
      FROM "Manifest" m JOIN "Repository" r ON r.id = m."repositoryId"
      WHERE m."registryId" = ${registryId}::uuid
        AND COALESCE(m."untaggedAt", m."createdAt") < now() - make_interval(days => ${days})
        AND m."deleteEnabled" AND m."writeEnabled" AND r."deleteEnabled" AND r."writeEnabled"
        AND NOT EXISTS (SELECT 1 FROM "Tag" t WHERE t."manifestId" = m.id)
        AND NOT EXISTS (SELECT 1 FROM "ManifestReference" mr WHERE mr."childId" = m.id)
        AND NOT EXISTS (SELECT 1 FROM "Manifest" s
                        WHERE m."subjectDigest" IS NOT NULL AND s."repositoryId" = m."repositoryId" AND s.digest = m."subjectDigest")
      ORDER BY m.id LIMIT ${limit}`;
  }

  /**
   * A rule's tag candidates (`acr purge --filter repo:tag --ago --keep`):
   * tags matching both regexes (anchored, Postgres syntax), beyond the
   * newest `keepLatest` per repository (locked tags count towards those kept),
   * last updated before `olderThanSeconds`, not locked.
   */
  async findRuleTags(registryId: string, rule: RetentionRuleRow, limit: number): Promise<TagCandidate[]> {
    return this.db.$queryRaw`
      SELECT id, tag, repository, "manifestId", digest, "updatedAt" FROM (
        SELECT t.id, t.name AS tag, r.name AS repository, t."manifestId", m.digest, t."updatedAt",
          (t."deleteEnabled" AND t."writeEnabled" AND m."deleteEnabled" AND m."writeEnabled"
            AND r."deleteEnabled" AND r."writeEnabled") AS deletable,
          row_number() OVER (PARTITION BY t."repositoryId" ORDER BY t."updatedAt" DESC, t.id DESC) AS rank
        FROM "Tag" t
        JOIN "Repository" r ON r.id = t."repositoryId"
        JOIN "Manifest" m ON m.id = t."manifestId"
        WHERE r."registryId" = ${registryId}::uuid
          AND r.name ~ ${anchored(rule.repositoryPattern)} AND t.name ~ ${anchored(rule.tagPattern)}
      ) c
      WHERE deletable
        AND (${rule.keepLatest}::int IS NULL OR rank > ${rule.keepLatest}::int)
        AND (${rule.olderThanSeconds}::int IS NULL OR "updatedAt" < now() - make_interval(secs => ${rule.olderThanSeconds}::int))
      ORDER BY repository, "updatedAt", id LIMIT ${limit}`;
  }

  /**
   * A rule's untagged manifests (`--untagged`): in matching repositories,
   * without tags once `plannedTagIds` are gone, created before
   * `olderThanSeconds`, not an index child, not a live referrer, not locked.
   */
  async findRuleUntaggedManifests(
    registryId: string,
    rule: RetentionRuleRow,
    plannedTagIds: bigint[],
    limit: number,
  ): Promise<ManifestCandidate[]> {
    return this.db.$queryRaw`
      SELECT m.id, r.name AS repository, m.digest, m."mediaType"
      FROM "Manifest" m JOIN "Repository" r ON r.id = m."repositoryId"
      WHERE m."registryId" = ${registryId}::uuid AND r.name ~ ${anchored(rule.repositoryPattern)}
        AND m."deleteEnabled" AND m."writeEnabled" AND r."deleteEnabled" AND r."writeEnabled"
        AND (${rule.olderThanSeconds}::int IS NULL OR m."createdAt" < now() - make_interval(secs => ${rule.olderThanSeconds}::int))
        AND NOT EXISTS (SELECT 1 FROM "Tag" t WHERE t."manifestId" = m.id AND NOT (t.id = ANY(${plannedTagIds}::bigint[])))
        AND NOT EXISTS (SELECT 1 FROM "ManifestReference" mr WHERE mr."childId" = m.id)
        AND NOT EXISTS (SELECT 1 FROM "Manifest" s
                        WHERE m."subjectDigest" IS NOT NULL AND s."repositoryId" = m."repositoryId" AND s.digest = m."subjectDigest")
      ORDER BY m.id LIMIT ${limit}`;
  }

  /**
   * Deletes a tag if it still points where the plan saw it and nothing is
   * locked; stamps the manifest's untaggedAt when that was its last tag.
   * Untagging emits no event (as in ACR).
   */
  async deleteTag(registryId: string, tag: TagCandidate): Promise<boolean> {
    return this.db.$transaction(async (tx) => {
      const locked = await tx.$queryRaw<Array<{ id: bigint }>>`
        SELECT t.id FROM "Tag" t
        JOIN "Repository" r ON r.id = t."repositoryId" JOIN "Manifest" m ON m.id = t."manifestId"
        WHERE t.id = ${tag.id} AND r."registryId" = ${registryId}::uuid
        FOR UPDATE OF t SKIP LOCKED`;
      if (locked.length === 0) return false;
      const deleted = await tx.$executeRaw`
        DELETE FROM "Tag" t USING "Repository" r, "Manifest" m
        WHERE t.id = ${tag.id} AND r.id = t."repositoryId" AND m.id = t."manifestId"
          AND t."manifestId" = ${tag.manifestId} AND t."updatedAt" = ${tag.updatedAt}
          AND t."deleteEnabled" AND t."writeEnabled" AND m."deleteEnabled" AND m."writeEnabled"
          AND r."deleteEnabled" AND r."writeEnabled"`;
      if (deleted === 0) return false;
      await tx.$executeRaw`
        UPDATE "Manifest" SET "untaggedAt" = now()
        WHERE id = ${tag.manifestId} AND NOT EXISTS (SELECT 1 FROM "Tag" WHERE "manifestId" = ${tag.manifestId})`;
      return true;
    });
  }

  /**
   * Deletes a manifest if it is still untagged, unreferenced and unlocked,
   * takes its bytes off the registry's usage when it was the digest's last
   * copy, and records the `image.delete` event in the same transaction. Its
   * blob links go with it; the blobs are left to GC.
   */
  async deleteManifest(registry: RetentionRegistry, manifestId: bigint): Promise<ManifestCandidate | undefined> {
    return this.db.$transaction(async (tx): Promise<ManifestCandidate | undefined> => {
      // Locks the manifest (skipping one a push holds) and shares the
      // repository row, so its lock attributes cannot change underneath.
      const locked = await tx.$queryRaw<Array<{ id: bigint }>>`
        SELECT m.id FROM "Manifest" m JOIN "Repository" r ON r.id = m."repositoryId"
        WHERE m.id = ${manifestId} AND m."registryId" = ${registry.id}::uuid
        FOR UPDATE OF m SKIP LOCKED FOR SHARE OF r`;
      if (locked.length === 0) return undefined;
      const [deleted] = await tx.$queryRaw<Array<ManifestCandidate & { size: number }>>`
        DELETE FROM "Manifest" m USING "Repository" r
        WHERE m.id = ${manifestId} AND r.id = m."repositoryId"
          AND m."deleteEnabled" AND m."writeEnabled" AND r."deleteEnabled" AND r."writeEnabled"
          AND NOT EXISTS (SELECT 1 FROM "Tag" t WHERE t."manifestId" = m.id)
          AND NOT EXISTS (SELECT 1 FROM "ManifestReference" mr WHERE mr."childId" = m.id)
        RETURNING m.id, r.name AS repository, m.digest, m."mediaType", m.size`;
      if (!deleted) return undefined;
      // Usage counts a manifest digest once per registry (as the data plane
      // does): serialise on the same advisory lock, then subtract the bytes if
      // no other repository of the registry holds this digest.
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${digestLockKey(registry.id, deleted.digest)}))`;
      const elsewhere = await tx.$queryRaw<Array<{ one: number }>>`
        SELECT 1 AS one FROM "Manifest" WHERE "registryId" = ${registry.id}::uuid AND digest = ${deleted.digest} LIMIT 1`;
      if (!elsewhere[0]) {
        await tx.$executeRaw`
          UPDATE "Registry" SET "storageUsedBytes" = GREATEST("storageUsedBytes" - ${BigInt(deleted.size)}, 0)
          WHERE id = ${registry.id}::uuid`;
      }
      const payload: ImageDeletePayload = {
        eventId: randomUUID(),
        timestamp: new Date().toISOString(),
        registryId: registry.id,
        registryName: registry.name,
        repository: deleted.repository,
        digest: deleted.digest,
        mediaType: deleted.mediaType,
        request: { id: randomUUID(), host: registry.loginServer, method: 'DELETE', useragent: USER_AGENT },
      };
      await writeOutboxEvent(tx, { registryId: registry.id, type: 'image.delete', payload });
      return { id: deleted.id, repository: deleted.repository, digest: deleted.digest, mediaType: deleted.mediaType };
    });
  }
}

/** Rule patterns match whole names, as acr purge's filters do. */
function anchored(pattern: string): string {
  return `^(?:${pattern})$`;
}
