import type { Db, Tx } from '@berth/db';
import { OciError } from '@berth/oci';
import type { RegistryInfo } from './registry-info';

/** Registry lookups of the data plane. */
export class RegistryRepository {
  constructor(private readonly db: Db) {}

  /** A registry that is serving (not being deleted), by name, with its SKU limits. */
  async findServingByName(name: string): Promise<RegistryInfo | undefined> {
    const row = await this.db.registry.findFirst({
      where: { name, provisioningState: 'Succeeded' },
      select: {
        id: true,
        name: true,
        loginServer: true,
        adminUserEnabled: true,
        anonymousPullEnabled: true,
        sku: {
          select: {
            name: true,
            includedStorageBytes: true,
            readOpsPerMinute: true,
            writeOpsPerMinute: true,
            maxLayerBytes: true,
            maxManifestBytes: true,
          },
        },
      },
    });
    if (!row) return undefined;
    return {
      id: row.id,
      name: row.name,
      loginServer: row.loginServer,
      adminUserEnabled: row.adminUserEnabled,
      anonymousPullEnabled: row.anonymousPullEnabled,
      sku: {
        name: row.sku.name,
        includedStorageBytes: Number(row.sku.includedStorageBytes),
        readOpsPerMinute: row.sku.readOpsPerMinute,
        writeOpsPerMinute: row.sku.writeOpsPerMinute,
        maxLayerBytes: Number(row.sku.maxLayerBytes),
        maxManifestBytes: row.sku.maxManifestBytes,
      },
    };
  }

  /** Current storage usage, read fresh (quota decisions never use the cached registry). */
  async storageUsedBytes(registryId: string): Promise<number> {
    const row = await this.db.registry.findUnique({ where: { id: registryId }, select: { storageUsedBytes: true } });
    return row ? Number(row.storageUsedBytes) : 0;
  }
}

/**
 * Re-checks, inside a write transaction, that the registry still serves
 * requests: the Host → registry cache may say Succeeded for a few seconds
 * after the management API marked it Deleting. FOR KEY SHARE holds until
 * commit and conflicts with the management API's `FOR UPDATE` of the row, so
 * either this transaction commits before the registry is marked Deleting
 * (and the purge, which starts after that, sees its rows) or it waits for
 * the mark and refuses. It does not conflict with usage updates
 * (storageUsedBytes), so concurrent pushes and GC never wait on it.
 */
export async function lockServingRegistry(tx: Tx, registryId: string): Promise<void> {
  const rows = await tx.$queryRaw<Array<{ provisioningState: string }>>`
    SELECT "provisioningState"::text AS "provisioningState" FROM "Registry" WHERE "id" = ${registryId}::uuid FOR KEY SHARE`;
  if (rows[0]?.provisioningState !== 'Succeeded') {
    throw new OciError('NAME_UNKNOWN', { message: 'this registry is being deleted' });
  }
}
