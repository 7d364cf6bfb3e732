import { Inject, Injectable } from '@nestjs/common';
import type { Db, Sku, Tx } from '@berth/db';
import { DB } from '../common/tokens';

/** A SKU's limits as plain numbers (byte counts fit well within 2^53). */
export interface SkuLimits {
  name: string;
  rank: number;
  includedStorageBytes: number;
  maxWebhooks: number;
  readOpsPerMinute: number;
  writeOpsPerMinute: number;
  maxLayerBytes: number;
  maxManifestBytes: number;
  maxServicePrincipals: number;
  anonymousPullAllowed: boolean;
  retentionPolicyAllowed: boolean;
}

export function toSkuLimits(row: Sku): SkuLimits {
  return {
    name: row.name,
    rank: row.tier,
    includedStorageBytes: Number(row.includedStorageBytes),
    maxWebhooks: row.maxWebhooks,
    readOpsPerMinute: row.readOpsPerMinute,
    writeOpsPerMinute: row.writeOpsPerMinute,
    maxLayerBytes: Number(row.maxLayerBytes),
    maxManifestBytes: row.maxManifestBytes,
    maxServicePrincipals: row.maxServicePrincipals,
    anonymousPullAllowed: row.anonymousPullAllowed,
    retentionPolicyAllowed: row.retentionPolicyAllowed,
  };
}

@Injectable()
export class SkusRepository {
  constructor(@Inject(DB) private readonly db: Db) {}

  async listSkus(): Promise<SkuLimits[]> {
    return (await this.db.sku.findMany({ orderBy: { tier: 'asc' } })).map(toSkuLimits);
  }

  /** SKU names are matched case-insensitively ("standard" is Standard), as ARM does. */
  async findSku(name: string, tx: Tx = this.db): Promise<SkuLimits | null> {
    const row = await tx.sku.findFirst({ where: { name: { equals: name, mode: 'insensitive' } } });
    return row ? toSkuLimits(row) : null;
  }
}
