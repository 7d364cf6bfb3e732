/**
 * Associated data of the sealed webhook columns (SecretBox from @berth/auth).
 * Binding each ciphertext to its webhook and column means a value copied to
 * another row or column fails to open. The management API seals and the
 * worker opens with these strings: `${webhookId}:serviceUri`,
 * `${webhookId}:customHeaders` (a JSON object of header name → value) and
 * `${webhookId}:signingSecret`.
 */
export type WebhookSecretField = 'serviceUri' | 'customHeaders' | 'signingSecret';

export function webhookSecretAad(webhookId: string, field: WebhookSecretField): string {
  return `${webhookId}:${field}`;
}
