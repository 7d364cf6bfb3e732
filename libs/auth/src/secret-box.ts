import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';

/**
 * Authenticated encryption for secrets that must be retrievable (admin
 * passwords, webhook URIs and headers). AES-256-GCM with a key derived from
 * BERTH_SECRET_KEY for this purpose only. Envelope: `v1.<iv>.<tag>.<ciphertext>` (base64url).
 */
export class SecretBox {
  private readonly key: Buffer;

  constructor(rootSecret: Buffer) {
    this.key = deriveKey(rootSecret, 'berth:secret-box:v1');
  }

  seal(plaintext: string, associatedData = ''): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(associatedData));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), ciphertext.toString('base64url')].join('.');
  }

  /** Throws when the envelope was tampered with, or sealed with another key or associated data. */
  open(envelope: string, associatedData = ''): string {
    const [version, iv, tag, ciphertext] = envelope.split('.');
    if (version !== 'v1' || !iv || !tag || ciphertext === undefined) throw new Error('malformed secret envelope');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(associatedData));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
  }
}

/** Derives a purpose-bound 32-byte key from the root secret (HMAC-SHA256 as a KDF). */
export function deriveKey(rootSecret: Buffer, purpose: string): Buffer {
  return createHmac('sha256', rootSecret).update(purpose).digest();
}
