import { createHmac, timingSafeEqual } from 'node:crypto';

/** Headers Berth adds to every webhook delivery. */
export const WEBHOOK_HEADERS = {
  /** `sha256=<hex HMAC-SHA256 of the raw body>`, only when the webhook has a signing secret. */
  signature: 'X-Berth-Signature',
  /** Stable per (event, webhook): the same on every retry, so receivers can drop duplicates. */
  delivery: 'X-Berth-Delivery',
  /** The event's id (the body's `id`). */
  event: 'X-Berth-Event',
  /** 1-based attempt number of this request. */
  attempt: 'X-Berth-Attempt',
} as const;

/** The `X-Berth-Signature` value for a body. */
export function signWebhookBody(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Constant-time check of an `X-Berth-Signature` header, for receivers (and tests). */
export function verifyWebhookSignature(secret: string, body: string | Buffer, header: string | undefined): boolean {
  if (!header) return false;
  const expected = Buffer.from(signWebhookBody(secret, body));
  const given = Buffer.from(header.trim());
  return expected.length === given.length && timingSafeEqual(expected, given);
}
