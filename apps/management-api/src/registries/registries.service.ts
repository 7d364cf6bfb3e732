import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { ADMIN_PASSWORD_NAMES, SecretBox, generateSecret, sealAdminPassword } from '@berth/auth';
import type { BerthConfig } from '@berth/config';
import { Prisma, writeOutboxEvent } from '@berth/db';
import type { RegistryDeletePayload } from '@berth/events';
import { CommonException } from '../common/common.exception';
import type { LimitViolation } from '../common/domain-exception';
import { PageQueryDto, DEFAULT_PAGE_SIZE, decodeSkipToken, toPage } from '../common/paging';
import { CONFIG, SECRET_BOX } from '../common/tokens';
import { SkuLimits, SkusRepository } from '../skus/skus.repository';
import {
  CheckNameDto,
  CreateRegistryDto,
  NameAvailabilityDto,
  REGISTRY_RESOURCE_TYPE,
  RegistryDto,
  RegistryListDto,
  RetentionPolicyInputDto,
  UpdateRegistryDto,
} from './registries.dto';
import { RegistryException, RegistryExceptionCode } from './registries.exception';
import { RegistriesRepository, RegistryDependents, RegistryRecord } from './registries.repository';
import { RegistryAccess } from './registry-access.service';
import { normalizeRegistryName, registryNameProblem } from './registry-name';

const DEFAULT_SKU = 'Basic';
const DEFAULT_RETENTION_DAYS = 7;

export function toRegistryDto(registry: RegistryRecord): RegistryDto {
  return {
    id: registry.id,
    name: registry.name,
    type: REGISTRY_RESOURCE_TYPE,
    sku: { name: registry.sku.name, tier: registry.sku.name },
    properties: {
      loginServer: registry.loginServer,
      creationDate: registry.createdAt.toISOString(),
      provisioningState: registry.provisioningState,
      adminUserEnabled: registry.adminUserEnabled,
      anonymousPullEnabled: registry.anonymousPullEnabled,
      policies: {
        retentionPolicy:
          registry.retentionDays === null
            ? { days: DEFAULT_RETENTION_DAYS, status: 'disabled' }
            : { days: registry.retentionDays, status: 'enabled' },
      },
      storageUsedBytes: registry.storageUsedBytes,
      deletionRequestedAt: registry.deletionRequestedAt?.toISOString() ?? null,
    },
  };
}

/** Retention days to store: null when the policy is disabled (the schema's convention). */
function retentionDaysOf(policy: RetentionPolicyInputDto): number | null {
  return policy.status === 'enabled' ? (policy.days ?? DEFAULT_RETENTION_DAYS) : null;
}

interface RegistryState {
  anonymousPullEnabled: boolean;
  retentionDays: number | null;
  storageUsedBytes: number;
}

/** Every way `state` exceeds `sku`; empty when the registry fits. */
export function skuViolations(sku: SkuLimits, state: RegistryState, dependents: RegistryDependents): LimitViolation[] {
  const violations: LimitViolation[] = [];
  if (state.storageUsedBytes > sku.includedStorageBytes) {
    violations.push({
      name: 'Size',
      limit: sku.includedStorageBytes,
      currentValue: state.storageUsedBytes,
      message: `${state.storageUsedBytes} bytes stored; ${sku.name} includes ${sku.includedStorageBytes}.`,
    });
  }
  if (dependents.webhooks > sku.maxWebhooks) {
    violations.push({
      name: 'Webhooks',
      limit: sku.maxWebhooks,
      currentValue: dependents.webhooks,
      message: `${dependents.webhooks} webhooks; ${sku.name} allows ${sku.maxWebhooks}.`,
    });
  }
  if (dependents.servicePrincipals > sku.maxServicePrincipals) {
    violations.push({
      name: 'ServicePrincipals',
      limit: sku.maxServicePrincipals,
      currentValue: dependents.servicePrincipals,
      message: `${dependents.servicePrincipals} service principals; ${sku.name} allows ${sku.maxServicePrincipals}.`,
    });
  }
  if (state.anonymousPullEnabled && !sku.anonymousPullAllowed) {
    violations.push({
      name: 'AnonymousPull',
      limit: false,
      currentValue: true,
      message: `${sku.name} does not allow anonymous pull; disable it first.`,
    });
  }
  if (state.retentionDays !== null && !sku.retentionPolicyAllowed) {
    violations.push({
      name: 'RetentionPolicy',
      limit: false,
      currentValue: true,
      message: `${sku.name} does not allow a retention policy; disable it first.`,
    });
  }
  return violations;
}

function skuLimitsException(sku: SkuLimits, violations: LimitViolation[]): RegistryException {
  return new RegistryException(
    RegistryExceptionCode.SkuLimitsExceeded,
    `The registry would exceed the limits of SKU ${sku.name}: ${violations.map((v) => v.message).join(' ')}`,
    { limits: violations },
  );
}

function isUniqueViolation(error: unknown): boolean {
  return error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002';
}

@Injectable()
export class RegistriesService {
  constructor(
    private readonly registries: RegistriesRepository,
    private readonly access: RegistryAccess,
    private readonly skus: SkusRepository,
    @Inject(SECRET_BOX) private readonly box: SecretBox,
    @Inject(CONFIG) private readonly config: BerthConfig,
  ) {}

  async create(input: CreateRegistryDto): Promise<RegistryDto> {
    const name = normalizeRegistryName(input.name);
    const sku = await this.requireSku(input.sku ?? DEFAULT_SKU);
    const state: RegistryState = {
      anonymousPullEnabled: input.anonymousPullEnabled ?? false,
      retentionDays: input.retentionPolicy ? retentionDaysOf(input.retentionPolicy) : null,
      storageUsedBytes: 0,
    };
    const violations = skuViolations(sku, state, { webhooks: 0, servicePrincipals: 0 });
    if (violations.length > 0) throw skuLimitsException(sku, violations);

    const id = randomUUID();
    const adminCredentials = ADMIN_PASSWORD_NAMES.map((slot) => ({
      name: slot,
      encryptedValue: sealAdminPassword(this.box, id, slot, generateSecret()),
    }));
    try {
      const created = await this.registries.transaction(async (tx) =>
        this.registries.createRegistry(tx, {
          id,
          name,
          loginServer: `${name}.${this.config.domain}`,
          skuName: sku.name,
          adminUserEnabled: input.adminUserEnabled ?? false,
          anonymousPullEnabled: state.anonymousPullEnabled,
          retentionDays: state.retentionDays,
          adminCredentials,
        }),
      );
      return toRegistryDto(created);
    } catch (error) {
      if (isUniqueViolation(error)) throw this.nameTaken(name);
      throw error;
    }
  }

  async list(query: PageQueryDto, path: string): Promise<RegistryListDto> {
    const top = query.top ?? DEFAULT_PAGE_SIZE;
    const after = decodeSkipToken(query.skipToken, ['name'] as const);
    const rows = await this.registries.listRegistries(after?.name, top + 1);
    return toPage(rows, top, path, toRegistryDto, (row) => ({ name: row.name }));
  }

  async get(name: string): Promise<RegistryDto> {
    return toRegistryDto(await this.access.get(name));
  }

  /**
   * Applies SKU and feature changes. The resulting registry must fit the
   * (possibly new) SKU: every exceeded limit is listed in one 409.
   */
  async update(name: string, input: UpdateRegistryDto): Promise<RegistryDto> {
    const targetSku = input.sku === undefined ? undefined : await this.requireSku(input.sku);
    const updated = await this.registries.transaction(async (tx) => {
      const registry = await this.access.lockWritable(tx, name);
      const sku = targetSku ?? registry.sku;
      const state: RegistryState = {
        anonymousPullEnabled: input.anonymousPullEnabled ?? registry.anonymousPullEnabled,
        retentionDays: input.retentionPolicy ? retentionDaysOf(input.retentionPolicy) : registry.retentionDays,
        storageUsedBytes: registry.storageUsedBytes,
      };
      const violations = skuViolations(sku, state, await this.registries.countDependents(registry.id, tx));
      if (violations.length > 0) throw skuLimitsException(sku, violations);
      return this.registries.updateRegistry(tx, registry.id, {
        skuName: sku.name,
        adminUserEnabled: input.adminUserEnabled,
        anonymousPullEnabled: state.anonymousPullEnabled,
        retentionDays: state.retentionDays,
      });
    });
    return toRegistryDto(updated);
  }

  /**
   * Marks the registry Deleting and records the purge job in the same
   * transaction. The row (and so the name) stays until the worker's purge
   * removes it. Deleting again answers the same without a second job.
   */
  async delete(name: string): Promise<RegistryDto> {
    const registry = await this.registries.transaction(async (tx) => {
      const found = await this.registries.findRegistryByName(normalizeRegistryName(name), tx);
      const locked = found ? await this.registries.lockRegistry(tx, found.id) : null;
      if (!locked) throw RegistryException.notFound(name);
      if (locked.provisioningState === 'Deleting') return locked;
      const marked = await this.registries.markRegistryDeleting(tx, locked.id, new Date());
      const payload: RegistryDeletePayload = { registryId: marked.id, registryName: marked.name };
      await writeOutboxEvent(tx, { registryId: marked.id, type: 'registry.delete', payload });
      return marked;
    });
    return toRegistryDto(registry);
  }

  async checkNameAvailability(input: CheckNameDto): Promise<NameAvailabilityDto> {
    const problem = registryNameProblem(input.name);
    if (problem) return { nameAvailable: false, reason: 'Invalid', message: `The registry name ${problem}.` };
    const existing = await this.registries.findRegistryByName(normalizeRegistryName(input.name));
    if (!existing) return { nameAvailable: true };
    return {
      nameAvailable: false,
      reason: 'AlreadyExists',
      message:
        existing.provisioningState === 'Deleting'
          ? `The registry ${input.name} is being deleted; the name becomes available when the deletion ends.`
          : `The registry ${input.name} is already in use.`,
    };
  }

  private async requireSku(name: string): Promise<SkuLimits> {
    const sku = await this.skus.findSku(name);
    if (sku) return sku;
    const known = (await this.skus.listSkus()).map((s) => s.name).join(', ');
    throw CommonException.field('sku', `sku must be one of ${known}`);
  }

  private nameTaken(name: string): RegistryException {
    return new RegistryException(RegistryExceptionCode.NameTaken, `The registry ${name} is already in use.`, {
      errors: [{ field: 'name', message: `name ${name} is already in use (names are case-insensitive)` }],
    });
  }
}
