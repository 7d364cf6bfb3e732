import type { Db } from '@berth/db';

export interface PurgeTarget {
  id: string;
  name: string;
  provisioningState: 'Succeeded' | 'Deleting';
}

/**
 * Metadata side of a registry purge. Every method deletes at most `limit`
 * rows and returns how many it deleted (or which), so the purge proceeds in
 * short transactions and can stop and resume anywhere.
 */
export class RegistryPurgeRepository {
  constructor(private readonly db: Db) {}

  async findRegistry(registryId: string): Promise<PurgeTarget | undefined> {
    const row = await this.db.registry.findUnique({
      where: { id: registryId },
      select: { id: true, name: true, provisioningState: true },
    });
    return row ?? undefined;
  }

  /** Registries marked Deleting at least `olderThanSeconds` ago (a purge should be done or under way). */
  async listPendingDeletions(olderThanSeconds: number): Promise<string[]> {
    const rows = await this.db.$queryRaw<Array<{ id: string }>>`
      SELECT id::text AS id FROM "Registry"
      WHERE "provisioningState" = 'Deleting'
        AND COALESCE("deletionRequestedAt", "updatedAt") < now() - make_interval(secs => ${olderThanSeconds})
      ORDER BY id`;
    return rows.map((row) => row.id);
  }

  /** Index → child links first: they are what keeps manifests from being deleted in any order. */
  async deleteManifestReferences(registryId: string, limit: number): Promise<number> {
    return this.db.$executeRaw`
      DELETE FROM "ManifestReference" WHERE ("parentId", "childId") IN (
        SELECT mr."parentId", mr."childId" FROM "ManifestReference" mr
        JOIN "Manifest" m ON m.id = mr."parentId"
        WHERE m."registryId" = ${registryId}::uuid LIMIT ${limit})`;
  }

  /** Manifests (their tags and blob links go with them). */
  async deleteManifests(registryId: string, limit: number): Promise<number> {
    return this.db.$executeRaw`
      DELETE FROM "Manifest" WHERE id IN (
        SELECT id FROM "Manifest" WHERE "registryId" = ${registryId}::uuid ORDER BY id LIMIT ${limit})`;
  }

  /** The next blobs to purge: their storage objects go first, then their rows. */
  async listBlobs(registryId: string, limit: number): Promise<Array<{ id: bigint; storageKey: string }>> {
    return this.db.$queryRaw`
      SELECT id, "storageKey" FROM "Blob" WHERE "registryId" = ${registryId}::uuid ORDER BY id LIMIT ${limit}`;
  }

  async deleteBlobs(registryId: string, ids: bigint[]): Promise<number> {
    return this.db.$executeRaw`
      DELETE FROM "Blob" WHERE "registryId" = ${registryId}::uuid AND id = ANY(${ids}::bigint[])`;
  }

  async listUploads(registryId: string, limit: number): Promise<Array<{ id: string; storageKey: string }>> {
    return this.db.$queryRaw`
      SELECT id::text AS id, "storageKey" FROM "Upload" WHERE "registryId" = ${registryId}::uuid ORDER BY id LIMIT ${limit}`;
  }

  async deleteUploads(registryId: string, ids: string[]): Promise<number> {
    return this.db.$executeRaw`
      DELETE FROM "Upload" WHERE "registryId" = ${registryId}::uuid AND id = ANY(${ids}::uuid[])`;
  }

  async deleteRepositories(registryId: string, limit: number): Promise<number> {
    return this.db.$executeRaw`
      DELETE FROM "Repository" WHERE id IN (
        SELECT id FROM "Repository" WHERE "registryId" = ${registryId}::uuid LIMIT ${limit})`;
  }

  /** Delivery history can be long; it goes in batches before the webhooks. */
  async deleteWebhookEvents(registryId: string, limit: number): Promise<number> {
    return this.db.$executeRaw`
      DELETE FROM "WebhookEvent" WHERE id IN (
        SELECT e.id FROM "WebhookEvent" e JOIN "Webhook" w ON w.id = e."webhookId"
        WHERE w."registryId" = ${registryId}::uuid LIMIT ${limit})`;
  }

  /**
   * Deletes the registry row; credentials, principals, role assignments,
   * webhooks and retention rules (few rows each) go with it by cascade.
   * The name is free once this commits.
   */
  async deleteRegistry(registryId: string): Promise<boolean> {
    const deleted = await this.db.$executeRaw`
      DELETE FROM "Registry" WHERE id = ${registryId}::uuid AND "provisioningState" = 'Deleting'`;
    return deleted > 0;
  }
}
