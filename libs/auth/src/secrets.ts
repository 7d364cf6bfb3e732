import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { deriveKey } from './secret-box';

/**
 * Generated secrets are 32+ random bytes, so a keyed fast hash is as strong as
 * a slow password hash here and keeps the token endpoint cheap. The key
 * (derived from BERTH_SECRET_KEY) means a leaked database alone cannot be used
 * to test guesses offline.
 */
export class SecretHasher {
  private readonly key: Buffer;

  constructor(rootSecret: Buffer) {
    this.key = deriveKey(rootSecret, 'berth:secret-hash:v1');
  }

  hash(secret: string): string {
    return createHmac('sha256', this.key).update(secret).digest('base64url');
  }

  verify(secret: string, expectedHash: string): boolean {
    return constantTimeEqual(this.hash(secret), expectedHash);
  }
}

/** A new random secret: URL-safe, 43 characters (256 bits). */
export function generateSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** Operator API keys look like `berth_<prefix>_<secret>`; the prefix finds the row, the hash checks the rest. */
export function generateApiKey(): { key: string; prefix: string } {
  const prefix = randomBytes(6).toString('hex');
  return { key: `berth_${prefix}_${generateSecret()}`, prefix };
}

export function parseApiKey(key: string): { prefix: string } | undefined {
  const match = /^berth_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$/.exec(key);
  return match ? { prefix: match[1]! } : undefined;
}

export function constantTimeEqual(a: string, b: string): boolean {
  const left = createHash('sha256').update(a).digest();
  const right = createHash('sha256').update(b).digest();
  return timingSafeEqual(left, right);
}

/** Splits `Basic <base64(user:password)>`; undefined when malformed. */
export function parseBasicAuth(header: string): { username: string; password: string } | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
