import { Injectable } from '@nestjs/common';
import type { Tx } from '@berth/db';
import { RegistriesRepository, RegistryRecord } from './registries.repository';
import { RegistryException } from './registries.exception';
import { normalizeRegistryName } from './registry-name';

/**
 * How other features find the registry named in their path: reads see a
 * registry being deleted (it shows as Deleting), changes are refused with 409.
 */
@Injectable()
export class RegistryAccess {
  constructor(private readonly registries: RegistriesRepository) {}

  async get(name: string): Promise<RegistryRecord> {
    const registry = await this.registries.findRegistryByName(normalizeRegistryName(name));
    if (!registry) throw RegistryException.notFound(name);
    return registry;
  }

  /** Locks the registry for the transaction and refuses one that is being deleted. */
  async lockWritable(tx: Tx, name: string): Promise<RegistryRecord> {
    const found = await this.registries.findRegistryByName(normalizeRegistryName(name), tx);
    const registry = found ? await this.registries.lockRegistry(tx, found.id) : null;
    if (!registry) throw RegistryException.notFound(name);
    if (registry.provisioningState === 'Deleting') throw RegistryException.deleting(registry.name);
    return registry;
  }

  /** Refuses a registry that is being deleted, without locking it. */
  async getWritable(name: string): Promise<RegistryRecord> {
    const registry = await this.get(name);
    if (registry.provisioningState === 'Deleting') throw RegistryException.deleting(registry.name);
    return registry;
  }

  transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    return this.registries.transaction(work);
  }
}
