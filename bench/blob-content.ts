import { createHash, randomBytes } from 'node:crypto';

const SEGMENT = 1024 * 1024;
const POOL_SEGMENTS = 32;
const HEADER = 32;

let pool: Buffer[] | undefined;

/** 32 MiB of random bytes shared by every blob: generating content costs no CPU. */
function segmentPool(): Buffer[] {
  pool ??= Array.from({ length: POOL_SEGMENTS }, () => randomBytes(SEGMENT));
  return pool;
}

/** A 32-bit mix (splitmix-style) so each blob walks the pool in its own order. */
function mix(seed: number, index: number): number {
  let x = (seed ^ Math.imul(index + 1, 0x9e3779b9)) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0;
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * The bytes of one benchmark blob, produced on demand and never held whole
 * in memory: a unique 32-byte header (so no two blobs share a digest),
 * then 1 MiB segments picked from a random pool in a per-blob order. Chunks
 * are views into the pool, so producing them copies nothing.
 */
export class BlobContent {
  private readonly header = randomBytes(HEADER);
  private readonly seed = this.header.readUInt32LE(0);
  private cachedDigest: string | undefined;

  constructor(readonly size: number) {}

  /** Yields the bytes of [start, end) as buffer views. */
  *chunks(start = 0, end = this.size): Generator<Buffer> {
    const segments = segmentPool();
    let position = start;
    if (position < HEADER && position < end) {
      const stop = Math.min(HEADER, end);
      yield this.header.subarray(position, stop);
      position = stop;
    }
    while (position < end) {
      const index = Math.floor((position - HEADER) / SEGMENT);
      const within = (position - HEADER) % SEGMENT;
      const segment = segments[mix(this.seed, index) % POOL_SEGMENTS]!;
      const take = Math.min(SEGMENT - within, end - position);
      yield segment.subarray(within, within + take);
      position += take;
    }
  }

  /** `sha256:<hex>`, computed once. */
  digest(): string {
    if (this.cachedDigest === undefined) {
      const hash = createHash('sha256');
      for (const chunk of this.chunks()) hash.update(chunk);
      this.cachedDigest = `sha256:${hash.digest('hex')}`;
    }
    return this.cachedDigest;
  }
}

/** Random bytes from the pool (for limit measurements that only need volume). */
export function* poolChunks(total: number): Generator<Buffer> {
  const segments = segmentPool();
  for (let sent = 0, i = 0; sent < total; i += 1) {
    const take = Math.min(SEGMENT, total - sent);
    yield segments[i % POOL_SEGMENTS]!.subarray(0, take);
    sent += take;
  }
}
