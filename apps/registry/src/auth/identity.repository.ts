import type { RoleName } from '@berth/auth';
import type { Db } from '@berth/db';
import type { RoleGrant } from './permissions';

/** Credential lookups for the token endpoint (and Basic auth on /v2); never on the token-verified hot path. */
export class IdentityRepository {
  constructor(private readonly db: Db) {}

  /** Whether the admin user is enabled now, and its sealed passwords. */
  async findAdminCredentials(registryId: string): Promise<{ enabled: boolean; sealed: Array<{ name: string; encryptedValue: string }> }> {
    const registry = await this.db.registry.findUnique({
      where: { id: registryId },
      select: { adminUserEnabled: true, adminCredentials: { select: { name: true, encryptedValue: true } } },
    });
    return { enabled: registry?.adminUserEnabled ?? false, sealed: registry?.adminCredentials ?? [] };
  }

  async isAdminUserEnabled(registryId: string): Promise<boolean> {
    const registry = await this.db.registry.findUnique({ where: { id: registryId }, select: { adminUserEnabled: true } });
    return registry?.adminUserEnabled ?? false;
  }

  /** The unexpired secret with this hash of the principal `clientId` of this registry. */
  async findActiveSecret(
    registryId: string,
    clientId: string,
    secretHash: string,
    now: Date,
  ): Promise<{ principalId: string; secretId: string } | undefined> {
    const secret = await this.db.servicePrincipalSecret.findFirst({
      where: { secretHash, expiresAt: { gt: now }, principal: { clientId, registryId } },
      select: { id: true, principalId: true },
    });
    return secret ? { principalId: secret.principalId, secretId: secret.id } : undefined;
  }

  /** Whether a secret still exists (not revoked) and has not expired: refresh tokens end with their secret. */
  async isSecretActive(registryId: string, principalId: string, secretId: string, now: Date): Promise<{ clientId: string } | undefined> {
    const secret = await this.db.servicePrincipalSecret.findFirst({
      where: { id: secretId, principalId, expiresAt: { gt: now }, principal: { registryId } },
      select: { principal: { select: { clientId: true } } },
    });
    return secret ? { clientId: secret.principal.clientId } : undefined;
  }

  async findRoleAssignments(registryId: string, principalId: string): Promise<RoleGrant[]> {
    const rows = await this.db.roleAssignment.findMany({
      where: { registryId, principalId },
      select: { role: true, repositories: true },
    });
    return rows.map((row) => ({ role: row.role as RoleName, repositories: row.repositories }));
  }
}
