import type { SecretBox } from '@berth/auth';

export const ADMIN_PASSWORD_NAMES = ['password', 'password2'] as const;
export type AdminPasswordName = (typeof ADMIN_PASSWORD_NAMES)[number];

/**
 * Associated data binding a sealed admin password to its registry and slot,
 * so a ciphertext copied to another row or slot fails to open. The data plane
 * must open AdminCredential.encryptedValue with the same string:
 * `${registryId}:${credentialName}` (e.g. `3f2b…:password2`).
 */
export function adminPasswordAad(registryId: string, name: string): string {
  return `${registryId}:${name}`;
}

export function sealAdminPassword(box: SecretBox, registryId: string, name: AdminPasswordName, value: string): string {
  return box.seal(value, adminPasswordAad(registryId, name));
}
