import { OciError } from '@berth/oci';
import type { RegistryInfo } from '../registries/registry-info';

/** The registry is at (or would go over) the storage included in its SKU. */
export function storageQuotaExceeded(registry: RegistryInfo, usedBytes: number, addingBytes?: number): OciError {
  const limit = registry.sku.includedStorageBytes;
  const adding = addingBytes === undefined ? '' : `; this blob adds ${addingBytes} bytes`;
  return new OciError('DENIED', {
    message: `storage quota exceeded: registry ${registry.name} uses ${usedBytes} of the ${limit} bytes included in the ${registry.sku.name} SKU${adding}`,
    detail: { limit: 'includedStorageBytes', limitBytes: limit, usedBytes },
  });
}

/** A layer larger than the SKU allows. */
export function layerTooLarge(registry: RegistryInfo): OciError {
  const limit = registry.sku.maxLayerBytes;
  return new OciError('DENIED', {
    message: `layer size limit exceeded: the ${registry.sku.name} SKU allows layers of at most ${limit} bytes`,
    detail: { limit: 'maxLayerBytes', limitBytes: limit },
  });
}

/** A lock attribute (writeEnabled / deleteEnabled = false) forbids the change; 405 as the spec answers disabled deletes. */
export function lockedError(what: string, attribute: 'writeEnabled' | 'deleteEnabled'): OciError {
  const verb = attribute === 'writeEnabled' ? 'written' : 'deleted';
  return new OciError('DENIED', {
    status: 405,
    message: `${what} cannot be ${verb}: it is locked (${attribute}=false)`,
    detail: { attribute },
  });
}

/** readEnabled = false: pulls are blocked. */
export function readDisabled(what: string): OciError {
  return new OciError('DENIED', { message: `${what} cannot be read: it is locked (readEnabled=false)`, detail: { attribute: 'readEnabled' } });
}
