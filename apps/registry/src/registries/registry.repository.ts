import type { Db } from '@berth/db';
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
