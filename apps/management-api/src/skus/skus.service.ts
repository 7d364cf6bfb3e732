import { Injectable } from '@nestjs/common';
import { SkuDto, SkuListDto } from './skus.dto';
import { SkuLimits, SkusRepository } from './skus.repository';

const GIB = 1024 ** 3;

export function toSkuDto(sku: SkuLimits): SkuDto {
  return {
    name: sku.name,
    tier: sku.name,
    rank: sku.rank,
    limits: {
      includedStorageBytes: sku.includedStorageBytes,
      includedStorageGiB: sku.includedStorageBytes / GIB,
      webhooks: sku.maxWebhooks,
      readOpsPerMinute: sku.readOpsPerMinute,
      writeOpsPerMinute: sku.writeOpsPerMinute,
      maxLayerBytes: sku.maxLayerBytes,
      maxManifestBytes: sku.maxManifestBytes,
      maxServicePrincipals: sku.maxServicePrincipals,
    },
    features: { anonymousPull: sku.anonymousPullAllowed, retentionPolicy: sku.retentionPolicyAllowed },
  };
}

@Injectable()
export class SkusService {
  constructor(private readonly skus: SkusRepository) {}

  async list(): Promise<SkuListDto> {
    return { value: (await this.skus.listSkus()).map(toSkuDto) };
  }
}
