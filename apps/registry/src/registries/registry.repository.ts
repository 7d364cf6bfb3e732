import { sql, type SqlClient } from '@berth/db/plain';
import { OciError } from '@berth/oci';
import type { RegistryInfo } from './registry-info';

/** Registry lookups of the data plane. */
export class RegistryRepository {
  constructor(private readonly db: SqlClient) {}

  /** A registry that is serving (not being deleted), by name, with its SKU limits. */
  async findServingByName(name: string): Promise<RegistryInfo | undefined> {
    const rows = await this.db.rows<{
      id: string;
      name: string;
      loginServer: string;
      adminUserEnabled: boolean;
      anonymousPullEnabled: boolean;
      skuName: string;
      includedStorageBytes: bigint;
      readOpsPerMinute: number;
      writeOpsPerMinute: number;
      maxLayerBytes: bigint;
      maxManifestBytes: number;
    }>(sql`
      SELECT r."id", r."name", r."loginServer", r."adminUserEnabled", r."anonymousPullEnabled", s."name" AS "skuName",
             s."includedStorageBytes", s."readOpsPerMinute", s."writeOpsPerMinute", s."maxLayerBytes", s."maxManifestBytes"
      FROM "Registry" r JOIN "Sku" s ON s."name" = r."skuName"
      WHERE r."name" = ${name} AND r."provisioningState" = 'Succeeded'`);
    const row = rows[0];
    if (!row) return undefined;
    return {
      id: row.id,
      name: row.name,
      loginServer: row.loginServer,
      adminUserEnabled: row.adminUserEnabled,
      anonymousPullEnabled: row.anonymousPullEnabled,
      sku: {
        name: row.skuName,
        includedStorageBytes: Number(row.includedStorageBytes),
        readOpsPerMinute: row.readOpsPerMinute,
        writeOpsPerMinute: row.writeOpsPerMinute,
        maxLayerBytes: Number(row.maxLayerBytes),
        maxManifestBytes: row.maxManifestBytes,
      },
    };
  }
}

/**
 * Re-checks, inside a write transaction, that the registry still serves
 * requests, and returns repository `repositoryName` (undefined when it does
 * not exist yet), in one statement. The Host → registry cache may say
 * Succeeded for a few seconds after the management API marked the registry
 * Deleting. FOR KEY SHARE of the registry row holds until commit and
 * conflicts with the management API's `FOR UPDATE` of the row, so either this
 * transaction commits before the registry is marked Deleting (and the purge,
 * which starts after that, sees its rows) or it waits for the mark and
 * refuses. It does not conflict with usage updates (storageUsedBytes), so
 * concurrent pushes and GC never wait on it.
 * The repository row is key-share locked too (the lock the inserts that
 * reference it would take anyway, only earlier): a repository delete holds
 * the row FOR UPDATE, so this waits for it and, once the delete commits,
 * finds no repository instead of writing rows whose reference is gone.
 */
export async function lockServingRegistry(
  tx: SqlClient,
  registryId: string,
  repositoryName: string,
): Promise<{ id: string; writeEnabled: boolean } | undefined> {
  const rows = await tx.rows<{ provisioningState: string; id: string | null; writeEnabled: boolean | null }>(sql`
    SELECT r."provisioningState"::text AS "provisioningState", p."id", p."writeEnabled"
    FROM "Registry" r
    LEFT JOIN LATERAL (
      SELECT "id", "writeEnabled" FROM "Repository"
      WHERE "registryId" = r."id" AND "name" = ${repositoryName}
      FOR KEY SHARE
    ) p ON true
    WHERE r."id" = ${registryId}::uuid
    FOR KEY SHARE OF r`);
  const row = rows[0];
  if (row?.provisioningState !== 'Succeeded') {
    throw new OciError('NAME_UNKNOWN', { message: 'this registry is being deleted' });
  }
  return row.id === null ? undefined : { id: row.id, writeEnabled: row.writeEnabled === true };
}
