import { createHash, type Hash } from 'node:crypto';

/** Digest algorithms the registry verifies (OCI image-spec registered algorithms). */
export const DIGEST_ALGORITHMS = {
  sha256: { hexLength: 64 },
  sha512: { hexLength: 128 },
} as const;

export type DigestAlgorithm = keyof typeof DIGEST_ALGORITHMS;

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  /** Lower-case hex. */
  hex: string;
  /** `algorithm:hex`, the canonical string. */
  digest: string;
}

const DIGEST_PATTERN = /^(sha256|sha512):([0-9a-f]+)$/;

/**
 * Parses a digest, accepting only the algorithms Berth can verify, lower-case
 * hex and the algorithm's exact length. Returns undefined for anything else
 * (callers turn that into DIGEST_INVALID or a 404, as the endpoint requires).
 */
export function parseDigest(value: string): ParsedDigest | undefined {
  const match = DIGEST_PATTERN.exec(value);
  if (!match) return undefined;
  const algorithm = match[1] as DigestAlgorithm;
  const hex = match[2]!;
  if (hex.length !== DIGEST_ALGORITHMS[algorithm].hexLength) return undefined;
  return { algorithm, hex, digest: value };
}

export function isDigest(value: string): boolean {
  return parseDigest(value) !== undefined;
}

export function isDigestAlgorithm(value: string): value is DigestAlgorithm {
  return Object.prototype.hasOwnProperty.call(DIGEST_ALGORITHMS, value);
}

/** The digest of a whole buffer (manifests, small blobs). */
export function digestOf(data: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

/**
 * An incremental digest over a stream of chunks. `copy()` lets a caller keep
 * the running state while taking a digest (Node's Hash can be read only once).
 */
export class Digester {
  private bytes = 0;

  private constructor(
    readonly algorithm: DigestAlgorithm,
    private readonly hash: Hash,
    bytes: number,
  ) {
    this.bytes = bytes;
  }

  static create(algorithm: DigestAlgorithm = 'sha256'): Digester {
    return new Digester(algorithm, createHash(algorithm), 0);
  }

  /** Number of bytes hashed so far. */
  get size(): number {
    return this.bytes;
  }

  update(chunk: Uint8Array): this {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    return this;
  }

  /** A snapshot that can continue independently of this one. */
  copy(): Digester {
    return new Digester(this.algorithm, this.hash.copy(), this.bytes);
  }

  /** The digest of everything hashed so far; the digester stays usable. */
  digest(): string {
    return `${this.algorithm}:${this.hash.copy().digest('hex')}`;
  }
}
