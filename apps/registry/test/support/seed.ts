import { randomUUID } from 'node:crypto';
import { generateSecret, SecretBox, SecretHasher, sealAdminPassword, type RoleName } from '@berth/auth';
import type { BerthConfig } from '@berth/config';
import type { Db } from '@berth/db';

export interface SeededRegistry {
  id: string;
  name: string;
  loginServer: string;
  /** Admin user credentials [username, password] and the second password. */
  admin: [string, string];
  password2: string;
}

/**
 * Creates registries and credentials directly in the database, the way the
 * management API stores them (sealed admin passwords, hashed secrets), so
 * data-plane tests do not depend on the control plane.
 */
export async function seedRegistry(
  db: Db,
  config: BerthConfig,
  options: {
    name: string;
    sku?: 'Basic' | 'Standard' | 'Premium';
    adminUserEnabled?: boolean;
    anonymousPullEnabled?: boolean;
    storageUsedBytes?: bigint;
  },
): Promise<SeededRegistry> {
  const id = randomUUID();
  const loginServer = `${options.name}.${config.domain}`;
  await db.registry.create({
    data: {
      id,
      name: options.name,
      loginServer,
      skuName: options.sku ?? 'Standard',
      adminUserEnabled: options.adminUserEnabled ?? true,
      anonymousPullEnabled: options.anonymousPullEnabled ?? false,
      storageUsedBytes: options.storageUsedBytes ?? 0n,
    },
  });
  const box = new SecretBox(config.secretKey);
  const password = generateSecret();
  const password2 = generateSecret();
  await db.adminCredential.createMany({
    data: [
      { registryId: id, name: 'password', encryptedValue: sealAdminPassword(box, id, 'password', password) },
      { registryId: id, name: 'password2', encryptedValue: sealAdminPassword(box, id, 'password2', password2) },
    ],
  });
  return { id, name: options.name, loginServer, admin: [options.name, password], password2 };
}

export interface SeededPrincipal {
  principalId: string;
  clientId: string;
  secretId: string;
  secret: string;
  credentials: [string, string];
}

export async function seedServicePrincipal(
  db: Db,
  config: BerthConfig,
  registryId: string,
  options: { roles: Array<{ role: RoleName; repositories?: string[] }>; expiresAt?: Date; displayName?: string },
): Promise<SeededPrincipal> {
  const principalId = randomUUID();
  const clientId = randomUUID();
  await db.servicePrincipal.create({
    data: { id: principalId, registryId, clientId, displayName: options.displayName ?? `sp-${clientId.slice(0, 8)}` },
  });
  const secret = generateSecret();
  const secretId = randomUUID();
  await db.servicePrincipalSecret.create({
    data: {
      id: secretId,
      principalId,
      hint: secret.slice(0, 3),
      secretHash: new SecretHasher(config.secretKey).hash(secret),
      expiresAt: options.expiresAt ?? new Date(Date.now() + 24 * 3600 * 1000),
    },
  });
  for (const assignment of options.roles) {
    await db.roleAssignment.create({
      data: { principalId, registryId, role: assignment.role, repositories: assignment.repositories ?? [] },
    });
  }
  return { principalId, clientId, secretId, secret, credentials: [clientId, secret] };
}
