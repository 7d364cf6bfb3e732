import { Inject, Injectable } from '@nestjs/common';
import { Prisma } from '@berth/db';
import type { Db, Tx } from '@berth/db';
import type { RoleName } from '@berth/auth';
import { DB } from '../common/tokens';

export interface SecretRecord {
  id: string;
  hint: string;
  description: string;
  expiresAt: Date;
  createdAt: Date;
}

export interface RoleAssignmentRecord {
  id: string;
  role: RoleName;
  repositories: string[];
  createdAt: Date;
}

export interface PrincipalRecord {
  id: string;
  clientId: string;
  displayName: string;
  createdAt: Date;
  secrets: SecretRecord[];
  roleAssignments: RoleAssignmentRecord[];
}

export interface NewSecret {
  hint: string;
  secretHash: string;
  description: string;
  expiresAt: Date;
}

const SECRET_FIELDS = { id: true, hint: true, description: true, expiresAt: true, createdAt: true } as const;
const ROLE_FIELDS = { id: true, role: true, repositories: true, createdAt: true } as const;
const PRINCIPAL_FIELDS = {
  id: true,
  clientId: true,
  displayName: true,
  createdAt: true,
  secrets: { select: SECRET_FIELDS, orderBy: { createdAt: 'asc' } },
  roles: { select: ROLE_FIELDS, orderBy: { createdAt: 'asc' } },
} as const;

type PrincipalRow = {
  id: string;
  clientId: string;
  displayName: string;
  createdAt: Date;
  secrets: SecretRecord[];
  roles: RoleAssignmentRecord[];
};

function toRecord(row: PrincipalRow): PrincipalRecord {
  const { roles, ...rest } = row;
  return { ...rest, roleAssignments: roles };
}

/** Every method is scoped by registry id, so a principal of one registry is never reachable through another. */
@Injectable()
export class ServicePrincipalsRepository {
  constructor(@Inject(DB) private readonly db: Db) {}

  countPrincipals(tx: Tx, registryId: string): Promise<number> {
    return tx.servicePrincipal.count({ where: { registryId } });
  }

  async displayNameInUse(tx: Tx, registryId: string, displayName: string): Promise<boolean> {
    return (await tx.servicePrincipal.count({ where: { registryId, displayName } })) > 0;
  }

  async createPrincipal(
    tx: Tx,
    registryId: string,
    input: {
      clientId: string;
      displayName: string;
      secret: NewSecret & { id: string };
      role?: { role: RoleName; repositories: string[] };
    },
  ): Promise<PrincipalRecord> {
    const row = await tx.servicePrincipal.create({
      data: {
        registryId,
        clientId: input.clientId,
        displayName: input.displayName,
        secrets: { create: [input.secret] },
        roles: input.role ? { create: [{ registryId, role: input.role.role, repositories: input.role.repositories }] } : undefined,
      },
      select: PRINCIPAL_FIELDS,
    });
    return toRecord(row);
  }

  /** Principals ordered by display name, after `afterDisplayName` (exclusive). */
  async listPrincipals(registryId: string, afterDisplayName: string | undefined, take: number): Promise<PrincipalRecord[]> {
    const rows = await this.db.servicePrincipal.findMany({
      where: { registryId, ...(afterDisplayName === undefined ? {} : { displayName: { gt: afterDisplayName } }) },
      orderBy: { displayName: 'asc' },
      take,
      select: PRINCIPAL_FIELDS,
    });
    return rows.map(toRecord);
  }

  /** By id or by client id (both UUIDs); callers pass a well-formed UUID. */
  async findPrincipal(registryId: string, idOrClientId: string): Promise<PrincipalRecord | null> {
    const row = await this.db.servicePrincipal.findFirst({
      where: { registryId, OR: [{ id: idOrClientId }, { clientId: idOrClientId }] },
      select: PRINCIPAL_FIELDS,
    });
    return row ? toRecord(row) : null;
  }

  async deletePrincipal(registryId: string, principalId: string): Promise<boolean> {
    const { count } = await this.db.servicePrincipal.deleteMany({ where: { registryId, id: principalId } });
    return count > 0;
  }

  /** Null when the principal is not in that registry (or no longer exists). */
  async addSecret(registryId: string, principalId: string, secret: NewSecret & { id: string }): Promise<SecretRecord | null> {
    if ((await this.db.servicePrincipal.count({ where: { id: principalId, registryId } })) === 0) return null;
    try {
      return await this.db.servicePrincipalSecret.create({ data: { ...secret, principalId }, select: SECRET_FIELDS });
    } catch (error) {
      // The principal was deleted between the check and the insert.
      if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2003') return null;
      throw error;
    }
  }

  async deleteSecret(registryId: string, principalId: string, secretId: string): Promise<boolean> {
    const { count } = await this.db.servicePrincipalSecret.deleteMany({
      where: { id: secretId, principal: { id: principalId, registryId } },
    });
    return count > 0;
  }

  listRoleAssignments(registryId: string, principalId: string): Promise<RoleAssignmentRecord[]> {
    return this.db.roleAssignment.findMany({
      where: { registryId, principalId },
      select: ROLE_FIELDS,
      orderBy: { createdAt: 'asc' },
    });
  }

  async hasRole(registryId: string, principalId: string, role: RoleName): Promise<boolean> {
    return (await this.db.roleAssignment.count({ where: { registryId, principalId, role } })) > 0;
  }

  addRoleAssignment(registryId: string, principalId: string, role: RoleName, repositories: string[]): Promise<RoleAssignmentRecord> {
    return this.db.roleAssignment.create({ data: { registryId, principalId, role, repositories }, select: ROLE_FIELDS });
  }

  async deleteRoleAssignment(registryId: string, principalId: string, assignmentId: string): Promise<boolean> {
    const { count } = await this.db.roleAssignment.deleteMany({ where: { id: assignmentId, registryId, principalId } });
    return count > 0;
  }
}
