import { Injectable } from '@nestjs/common';
import { RegistriesRepository } from '../registries/registries.repository';
import { RegistryAccess } from '../registries/registry-access.service';
import { UsageListDto } from './usages.dto';

@Injectable()
export class UsagesService {
  constructor(
    private readonly access: RegistryAccess,
    private readonly registries: RegistriesRepository,
  ) {}

  /** Size compares stored bytes with the SKU's included storage (ACR's "Size" usage). */
  async list(registryName: string): Promise<UsageListDto> {
    const registry = await this.access.get(registryName);
    const dependents = await this.registries.countDependents(registry.id);
    return {
      value: [
        { name: 'Size', limit: registry.sku.includedStorageBytes, currentValue: registry.storageUsedBytes, unit: 'Bytes' },
        { name: 'Webhooks', limit: registry.sku.maxWebhooks, currentValue: dependents.webhooks, unit: 'Count' },
        {
          name: 'ServicePrincipals',
          limit: registry.sku.maxServicePrincipals,
          currentValue: dependents.servicePrincipals,
          unit: 'Count',
        },
      ],
    };
  }
}
