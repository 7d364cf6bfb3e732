import type { RoleName } from '@berth/auth';
import { sql, type SqlClient } from '@berth/db/plain';
import type { RoleGrant } from './permissions';

/** Credential lookups for the token endpoint (and Basic auth on /v2); never on the token-verified hot path. */
export class IdentityRepository {
  constructor(private readonly db: SqlClient) {}

  /** Whether the admin user is enabled now, and its sealed passwords. */
  async findAdminCredentials(registryId: string): Promise<{ enabled: boolean; sealed: Array<{ name: string; encryptedValue: string }> }> {
    const rows = await this.db.rows<{ enabled: boolean; name: string | null; encryptedValue: string | null }>(sql`
      SELECT r."adminUserEnabled" AS "enabled", c."name", c."encryptedValue"
      FROM "Registry" r LEFT JOIN "AdminCredential" c ON c."registryId" = r."id"
      WHERE r."id" = ${registryId}::uuid
      ORDER BY c."name"`);
    const sealed = rows.flatMap((row) => (row.name !== null && row.encryptedValue !== null ? [{ name: row.name, encryptedValue: row.encryptedValue }] : []));
    return { enabled: rows[0]?.enabled ?? false, sealed };
  }

  async isAdminUserEnabled(registryId: string): Promise<boolean> {
    const rows = await this.db.rows<{ enabled: boolean }>(sql`SELECT "adminUserEnabled" AS "enabled" FROM "Registry" WHERE "id" = ${registryId}::uuid`);
    return rows[0]?.enabled ?? false;
  }

  /** The unexpired secret with this hash of the principal `clientId` of this registry. */
  async findActiveSecret(
    registryId: string,
    clientId: string,
    secretHash: string,
    now: Date,
  ): Promise<{ principalId: string; secretId: string } | undefined> {
    const rows = await this.db.rows<{ principalId: string; secretId: string }>(sql`
      SELECT s."principalId", s."id" AS "secretId"
      FROM "ServicePrincipalSecret" s JOIN "ServicePrincipal" p ON p."id" = s."principalId"
      WHERE s."secretHash" = ${secretHash} AND s."expiresAt" > ${now} AND p."clientId" = ${clientId} AND p."registryId" = ${registryId}::uuid
      LIMIT 1`);
    return rows[0];
  }

  /** Whether a secret still exists (not revoked) and has not expired: refresh tokens end with their secret. */
  async isSecretActive(registryId: string, principalId: string, secretId: string, now: Date): Promise<{ clientId: string } | undefined> {
    const rows = await this.db.rows<{ clientId: string }>(sql`
      SELECT p."clientId"
      FROM "ServicePrincipalSecret" s JOIN "ServicePrincipal" p ON p."id" = s."principalId"
      WHERE s."id" = ${secretId}::uuid AND s."principalId" = ${principalId}::uuid AND s."expiresAt" > ${now} AND p."registryId" = ${registryId}::uuid`);
    return rows[0];
  }

  async findRoleAssignments(registryId: string, principalId: string): Promise<RoleGrant[]> {
    const rows = await this.db.rows<{ role: string; repositories: string[] }>(sql`
      SELECT "role"::text AS "role", "repositories" FROM "RoleAssignment"
      WHERE "registryId" = ${registryId}::uuid AND "principalId" = ${principalId}::uuid`);
    return rows.map((row) => ({ role: row.role as RoleName, repositories: row.repositories }));
  }
}
