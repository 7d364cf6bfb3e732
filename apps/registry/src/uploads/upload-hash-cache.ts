import type { DigestAlgorithm } from '@berth/oci';
import type { RunningDigest } from './hash-offload';

interface Entry {
  digester: RunningDigest;
  touchedAt: number;
}

/**
 * Running digests of uploads this process is streaming: the fast path that
 * verifies a chunked upload without reading it back. An entry is valid only
 * for the exact offset it has hashed (RunningDigest.size); after a restart, or
 * when the previous chunk went to another replica, the caller re-hashes the
 * stored bytes instead. `take` removes the entry, so two requests can never
 * feed one hash at the same time.
 */
export class UploadHashCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly maxEntries = 10_000,
    private readonly idleMs = 60 * 60 * 1000,
    private readonly now: () => number = Date.now,
  ) {}

  take(uploadId: string, offset: number, algorithm: DigestAlgorithm): RunningDigest | undefined {
    const entry = this.entries.get(uploadId);
    if (!entry) return undefined;
    this.entries.delete(uploadId);
    if (entry.digester.size === offset && entry.digester.algorithm === algorithm) return entry.digester;
    entry.digester.dispose?.();
    return undefined;
  }

  put(uploadId: string, digester: RunningDigest): void {
    if (this.entries.size >= this.maxEntries) this.sweep(true);
    const previous = this.entries.get(uploadId)?.digester;
    if (previous && previous !== digester) previous.dispose?.();
    this.entries.set(uploadId, { digester, touchedAt: this.now() });
  }

  drop(uploadId: string): void {
    this.entries.get(uploadId)?.digester.dispose?.();
    this.entries.delete(uploadId);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Forgets idle entries (abandoned uploads); with `force`, the oldest half too when still full. */
  sweep(force = false): void {
    const cutoff = this.now() - this.idleMs;
    for (const [id, entry] of this.entries) if (entry.touchedAt < cutoff) this.drop(id);
    if (force && this.entries.size >= this.maxEntries) {
      let excess = Math.ceil(this.entries.size / 2);
      for (const id of this.entries.keys()) {
        if (excess-- <= 0) break;
        this.drop(id);
      }
    }
  }
}
