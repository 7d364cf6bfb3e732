import { Inject, Injectable } from '@nestjs/common';
import type { Db, Registry, Sku, Tx } from '@berth/db';
import { DB } from '../common/tokens';
import { SkuLimits, toSkuLimits } from '../skus/skus.repository';

export type ProvisioningState = 'Succeeded' | 'Deleting';

export interface RegistryRecord {
  id: string;
  name: string;
  loginServer: string;
  sku: SkuLimits;
  adminUserEnabled: boolean;
  anonymousPullEnabled: boolean;
  /** Retention of untagged manifests in days; null when the policy is disabled. */
  retentionDays: number | null;
  provisioningState: ProvisioningState;
  storageUsedBytes: number;
  createdAt: Date;
  updatedAt: Date;
  deletionRequestedAt: Date | null;
}

export interface NewRegistry {
  id: string;
  name: string;
  loginServer: string;
  skuName: string;
  adminUserEnabled: boolean;
  anonymousPullEnabled: boolean;
  retentionDays: number | null;
  /** Sealed admin passwords, created with the registry (as in ACR, even while the admin user is disabled). */
  adminCredentials: { name: string; encryptedValue: string }[];
}

export interface RegistryChanges {
  skuName?: string;
  adminUserEnabled?: boolean;
  anonymousPullEnabled?: boolean;
  retentionDays?: number | null;
}

/** What counts against a SKU's limits besides storage. */
export interface RegistryDependents {
  webhooks: number;
  servicePrincipals: number;
}

function toRecord(row: Registry & { sku: Sku }): RegistryRecord {
  return {
    id: row.id,
    name: row.name,
    loginServer: row.loginServer,
    sku: toSkuLimits(row.sku),
    adminUserEnabled: row.adminUserEnabled,
    anonymousPullEnabled: row.anonymousPullEnabled,
    retentionDays: row.retentionDays,
    provisioningState: row.provisioningState,
    storageUsedBytes: Number(row.storageUsedBytes),
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    deletionRequestedAt: row.deletionRequestedAt,
  };
}

@Injectable()
export class RegistriesRepository {
  constructor(@Inject(DB) private readonly db: Db) {}

  /** Runs `work` in one transaction; the outbox writer and row locks need it. */
  transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    return this.db.$transaction(work);
  }

  /** `name` must already be normalised (lower-case): names are stored lower-case. */
  async findRegistryByName(name: string, tx: Tx = this.db): Promise<RegistryRecord | null> {
    const row = await tx.registry.findUnique({ where: { name }, include: { sku: true } });
    return row ? toRecord(row) : null;
  }

  /**
   * Locks the registry row until the transaction ends and returns its current
   * state. Changes that are checked against SKU limits (new webhooks, new
   * principals, SKU changes, deletion) take this lock first, so two
   * concurrent requests cannot both pass a check that only one of them may.
   */
  async lockRegistry(tx: Tx, registryId: string): Promise<RegistryRecord | null> {
    await tx.$queryRaw`SELECT 1 FROM "Registry" WHERE "id" = ${registryId}::uuid FOR UPDATE`;
    const row = await tx.registry.findUnique({ where: { id: registryId }, include: { sku: true } });
    return row ? toRecord(row) : null;
  }

  /** Registries ordered by name, after `afterName` (exclusive); `take` rows at most. */
  async listRegistries(afterName: string | undefined, take: number): Promise<RegistryRecord[]> {
    const rows = await this.db.registry.findMany({
      where: afterName === undefined ? {} : { name: { gt: afterName } },
      orderBy: { name: 'asc' },
      take,
      include: { sku: true },
    });
    return rows.map(toRecord);
  }

  async createRegistry(tx: Tx, input: NewRegistry): Promise<RegistryRecord> {
    const row = await tx.registry.create({
      data: {
        id: input.id,
        name: input.name,
        loginServer: input.loginServer,
        skuName: input.skuName,
        adminUserEnabled: input.adminUserEnabled,
        anonymousPullEnabled: input.anonymousPullEnabled,
        retentionDays: input.retentionDays,
        adminCredentials: { create: input.adminCredentials },
      },
      include: { sku: true },
    });
    return toRecord(row);
  }

  async updateRegistry(tx: Tx, registryId: string, changes: RegistryChanges): Promise<RegistryRecord> {
    const row = await tx.registry.update({
      where: { id: registryId },
      data: changes,
      include: { sku: true },
    });
    return toRecord(row);
  }

  async markRegistryDeleting(tx: Tx, registryId: string, at: Date): Promise<RegistryRecord> {
    const row = await tx.registry.update({
      where: { id: registryId },
      data: { provisioningState: 'Deleting', deletionRequestedAt: at },
      include: { sku: true },
    });
    return toRecord(row);
  }

  async countDependents(registryId: string, tx: Tx = this.db): Promise<RegistryDependents> {
    // Sequential: queries of one interactive transaction share one connection.
    const webhooks = await tx.webhook.count({ where: { registryId } });
    const servicePrincipals = await tx.servicePrincipal.count({ where: { registryId } });
    return { webhooks, servicePrincipals };
  }
}
