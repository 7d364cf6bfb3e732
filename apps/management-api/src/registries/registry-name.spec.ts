import { RESERVED_REGISTRY_NAMES, registryNameProblem } from './registry-name';
import { skuViolations } from './registries.service';
import type { SkuLimits } from '../skus/skus.repository';

describe('registryNameProblem', () => {
  it.each(['myregistry', 'MyRegistry01', '12345', 'a'.repeat(50)])('accepts %p', (name) => {
    expect(registryNameProblem(name)).toBeUndefined();
  });

  it.each([
    ['abcd', /5-50/],
    ['a'.repeat(51), /5-50/],
    ['my-registry', /letters/],
    ['my_registry', /letters/],
    ['regıstry1', /letters/],
    ['', /5-50/],
    ['Admin', /reserved/],
  ])('refuses %p', (name, message) => {
    expect(registryNameProblem(name)).toMatch(message);
  });

  it('only reserves names that would otherwise be valid', () => {
    for (const name of RESERVED_REGISTRY_NAMES) expect(name).toMatch(/^[a-z0-9]{5,50}$/);
  });
});

describe('skuViolations', () => {
  const basic: SkuLimits = {
    name: 'Basic',
    rank: 1,
    includedStorageBytes: 100,
    maxWebhooks: 2,
    readOpsPerMinute: 1,
    writeOpsPerMinute: 1,
    maxLayerBytes: 1,
    maxManifestBytes: 1,
    maxServicePrincipals: 1,
    anonymousPullAllowed: false,
    retentionPolicyAllowed: false,
  };

  it('is empty at the limits', () => {
    expect(
      skuViolations(basic, { anonymousPullEnabled: false, retentionDays: null, storageUsedBytes: 100 }, { webhooks: 2, servicePrincipals: 1 }),
    ).toEqual([]);
  });

  it('lists every exceeded limit', () => {
    const names = skuViolations(
      basic,
      { anonymousPullEnabled: true, retentionDays: 0, storageUsedBytes: 101 },
      { webhooks: 3, servicePrincipals: 2 },
    ).map((v) => v.name);
    expect(names).toEqual(['Size', 'Webhooks', 'ServicePrincipals', 'AnonymousPull', 'RetentionPolicy']);
  });
});
