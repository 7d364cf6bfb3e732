import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { Prisma } from '@berth/db';
import { SecretHasher, generateSecret } from '@berth/auth';
import { CommonException } from '../common/common.exception';
import { DEFAULT_PAGE_SIZE, PageQueryDto, decodeSkipToken, toPage } from '../common/paging';
import { UUID_PATTERN } from '../common/patterns';
import { SECRET_HASHER } from '../common/tokens';
import { RegistryAccess } from '../registries/registry-access.service';
import {
  AddSecretDto,
  CreateServicePrincipalDto,
  CreatedSecretDto,
  CreatedServicePrincipalDto,
  RoleAssignmentDto,
  RoleAssignmentInputDto,
  RoleAssignmentListDto,
  SecretInfoDto,
  ServicePrincipalDto,
  ServicePrincipalListDto,
} from './service-principals.dto';
import { ServicePrincipalException, ServicePrincipalExceptionCode } from './service-principals.exception';
import {
  NewSecret,
  PrincipalRecord,
  RoleAssignmentRecord,
  SecretRecord,
  ServicePrincipalsRepository,
} from './service-principals.repository';

const DEFAULT_SECRET_DAYS = 365;
const DAY_MS = 24 * 3600 * 1000;
const HINT_LENGTH = 3;

function toSecretDto(secret: SecretRecord, now: Date): SecretInfoDto {
  return {
    id: secret.id,
    hint: secret.hint,
    description: secret.description,
    expiresAt: secret.expiresAt.toISOString(),
    expired: secret.expiresAt <= now,
    createdAt: secret.createdAt.toISOString(),
  };
}

function toRoleDto(role: RoleAssignmentRecord): RoleAssignmentDto {
  return { id: role.id, role: role.role, repositories: role.repositories, createdAt: role.createdAt.toISOString() };
}

function toPrincipalDto(principal: PrincipalRecord, now = new Date()): ServicePrincipalDto {
  return {
    id: principal.id,
    clientId: principal.clientId,
    displayName: principal.displayName,
    createdAt: principal.createdAt.toISOString(),
    secrets: principal.secrets.map((s) => toSecretDto(s, now)),
    roleAssignments: principal.roleAssignments.map(toRoleDto),
  };
}

/** Duplicate entries and a lone `*` add nothing to a repository list; keep it canonical. */
function canonicalRepositories(repositories: string[] | undefined): string[] {
  const unique = [...new Set(repositories ?? [])];
  return unique.includes('*') ? [] : unique;
}

@Injectable()
export class ServicePrincipalsService {
  constructor(
    private readonly access: RegistryAccess,
    private readonly principals: ServicePrincipalsRepository,
    @Inject(SECRET_HASHER) private readonly hasher: SecretHasher,
  ) {}

  async create(registryName: string, input: CreateServicePrincipalDto): Promise<CreatedServicePrincipalDto> {
    if (input.repositories !== undefined && input.role === undefined) {
      throw CommonException.field('repositories', 'repositories limits a role, so role is required with it');
    }
    const displayName = input.displayName.trim();
    const { secret, record } = this.newSecret('', input.secretExpiresInDays);
    try {
      const principal = await this.access.transaction(async (tx) => {
        const registry = await this.access.lockWritable(tx, registryName);
        const count = await this.principals.countPrincipals(tx, registry.id);
        if (count >= registry.sku.maxServicePrincipals) {
          throw new ServicePrincipalException(
            ServicePrincipalExceptionCode.LimitReached,
            `SKU ${registry.sku.name} allows ${registry.sku.maxServicePrincipals} service principals per registry.`,
            {
              limits: [
                {
                  name: 'ServicePrincipals',
                  limit: registry.sku.maxServicePrincipals,
                  currentValue: count,
                  message: `The registry already has ${count} service principals.`,
                },
              ],
            },
          );
        }
        if (await this.principals.displayNameInUse(tx, registry.id, displayName)) throw this.displayNameTaken(displayName);
        return this.principals.createPrincipal(tx, registry.id, {
          clientId: randomUUID(),
          displayName,
          secret: record,
          role: input.role ? { role: input.role, repositories: canonicalRepositories(input.repositories) } : undefined,
        });
      });
      const dto = toPrincipalDto(principal);
      return { ...dto, secret, secretId: record.id, secretExpiresAt: record.expiresAt.toISOString() };
    } catch (error) {
      if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002') {
        throw this.displayNameTaken(displayName);
      }
      throw error;
    }
  }

  async list(registryName: string, query: PageQueryDto, path: string): Promise<ServicePrincipalListDto> {
    const registry = await this.access.get(registryName);
    const top = query.top ?? DEFAULT_PAGE_SIZE;
    const after = decodeSkipToken(query.skipToken, ['displayName'] as const);
    const rows = await this.principals.listPrincipals(registry.id, after?.displayName, top + 1);
    const now = new Date();
    return toPage(rows, top, path, (row) => toPrincipalDto(row, now), (row) => ({ displayName: row.displayName }));
  }

  async get(registryName: string, principalId: string): Promise<ServicePrincipalDto> {
    const registry = await this.access.get(registryName);
    return toPrincipalDto(await this.requirePrincipal(registry.id, principalId));
  }

  async delete(registryName: string, principalId: string): Promise<void> {
    const registry = await this.access.getWritable(registryName);
    const principal = await this.requirePrincipal(registry.id, principalId);
    await this.principals.deletePrincipal(registry.id, principal.id);
  }

  async addSecret(registryName: string, principalId: string, input: AddSecretDto): Promise<CreatedSecretDto> {
    const registry = await this.access.getWritable(registryName);
    const principal = await this.requirePrincipal(registry.id, principalId);
    const { secret, record } = this.newSecret(input.description ?? '', input.expiresInDays);
    const created = await this.principals.addSecret(registry.id, principal.id, record);
    if (!created) throw this.principalNotFound(principalId);
    return { ...toSecretDto(created, new Date()), secret };
  }

  async deleteSecret(registryName: string, principalId: string, secretId: string): Promise<void> {
    const registry = await this.access.getWritable(registryName);
    const principal = await this.requirePrincipal(registry.id, principalId);
    const deleted = UUID_PATTERN.test(secretId) && (await this.principals.deleteSecret(registry.id, principal.id, secretId));
    if (!deleted) {
      throw new ServicePrincipalException(
        ServicePrincipalExceptionCode.SecretNotFound,
        `Service principal ${principalId} has no secret ${secretId}.`,
      );
    }
  }

  async listRoles(registryName: string, principalId: string): Promise<RoleAssignmentListDto> {
    const registry = await this.access.get(registryName);
    const principal = await this.requirePrincipal(registry.id, principalId);
    return { value: (await this.principals.listRoleAssignments(registry.id, principal.id)).map(toRoleDto) };
  }

  async addRole(registryName: string, principalId: string, input: RoleAssignmentInputDto): Promise<RoleAssignmentDto> {
    const registry = await this.access.getWritable(registryName);
    const principal = await this.requirePrincipal(registry.id, principalId);
    const alreadyAssigned = new ServicePrincipalException(
      ServicePrincipalExceptionCode.RoleAlreadyAssigned,
      `Service principal ${principal.displayName} already has role ${input.role}; delete that assignment to change its repositories.`,
    );
    if (await this.principals.hasRole(registry.id, principal.id, input.role)) throw alreadyAssigned;
    try {
      const role = await this.principals.addRoleAssignment(
        registry.id,
        principal.id,
        input.role,
        canonicalRepositories(input.repositories),
      );
      return toRoleDto(role);
    } catch (error) {
      if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002') throw alreadyAssigned;
      throw error;
    }
  }

  async deleteRole(registryName: string, principalId: string, assignmentId: string): Promise<void> {
    const registry = await this.access.getWritable(registryName);
    const principal = await this.requirePrincipal(registry.id, principalId);
    const deleted =
      UUID_PATTERN.test(assignmentId) && (await this.principals.deleteRoleAssignment(registry.id, principal.id, assignmentId));
    if (!deleted) {
      throw new ServicePrincipalException(
        ServicePrincipalExceptionCode.RoleAssignmentNotFound,
        `Service principal ${principalId} has no role assignment ${assignmentId}.`,
      );
    }
  }

  private newSecret(description: string, days: number | undefined): { secret: string; record: NewSecret & { id: string } } {
    const secret = generateSecret();
    return {
      secret,
      record: {
        id: randomUUID(),
        hint: secret.slice(0, HINT_LENGTH),
        secretHash: this.hasher.hash(secret),
        description,
        expiresAt: new Date(Date.now() + (days ?? DEFAULT_SECRET_DAYS) * DAY_MS),
      },
    };
  }

  private async requirePrincipal(registryId: string, principalId: string): Promise<PrincipalRecord> {
    const principal = UUID_PATTERN.test(principalId) ? await this.principals.findPrincipal(registryId, principalId) : null;
    if (!principal) throw this.principalNotFound(principalId);
    return principal;
  }

  private principalNotFound(principalId: string): ServicePrincipalException {
    return new ServicePrincipalException(
      ServicePrincipalExceptionCode.NotFound,
      `There is no service principal ${principalId} in this registry.`,
    );
  }

  private displayNameTaken(displayName: string): ServicePrincipalException {
    return new ServicePrincipalException(
      ServicePrincipalExceptionCode.DisplayNameTaken,
      `A service principal named ${displayName} already exists in this registry.`,
      { errors: [{ field: 'displayName', message: 'displayName is already in use in this registry' }] },
    );
  }
}
