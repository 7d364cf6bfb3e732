/**
 * Associated data for the sealed webhook columns: binding each ciphertext to
 * its webhook and column means a value copied to another row or column fails
 * to open. The worker opens them with the same strings:
 * `${webhookId}:serviceUri`, `${webhookId}:customHeaders` (JSON object of
 * header name → value) and `${webhookId}:signingSecret`.
 */
export type WebhookSecretField = 'serviceUri' | 'customHeaders' | 'signingSecret';

export function webhookSecretAad(webhookId: string, field: WebhookSecretField): string {
  return `${webhookId}:${field}`;
}
