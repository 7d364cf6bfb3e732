import type { SecretBox } from './secret-box';

/** The two admin password slots of a registry (ACR's `password` and `password2`). */
export const ADMIN_PASSWORD_NAMES = ['password', 'password2'] as const;
export type AdminPasswordName = (typeof ADMIN_PASSWORD_NAMES)[number];

/**
 * Associated data binding a sealed admin password (AdminCredential.encryptedValue)
 * to its registry and slot, so a ciphertext copied to another row or slot fails
 * to open: `${registryId}:${name}` (e.g. `3f2b…:password2`). Stored values
 * depend on this exact string; changing it makes every sealed password unreadable.
 */
export function adminPasswordAad(registryId: string, name: string): string {
  return `${registryId}:${name}`;
}

/** Seals an admin password for AdminCredential.encryptedValue of `registryId`, slot `name`. */
export function sealAdminPassword(box: SecretBox, registryId: string, name: AdminPasswordName, value: string): string {
  return box.seal(value, adminPasswordAad(registryId, name));
}

/**
 * Opens a sealed admin password of `registryId`, slot `name`. Throws when the
 * value was sealed for another registry or slot, with another key, or tampered with.
 */
export function openAdminPassword(box: SecretBox, registryId: string, name: string, sealed: string): string {
  return box.open(sealed, adminPasswordAad(registryId, name));
}
