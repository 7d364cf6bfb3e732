import type { RegistryInfo } from './registry-info';
import type { RegistryRepository } from './registry.repository';

interface CacheEntry {
  value: RegistryInfo | undefined;
  expiresAt: number;
}

const MAX_ENTRIES = 10_000;

/**
 * Maps a Host header to the registry it names (`<name>.<domain>[:port]`).
 * Answers (found or not) are cached for a few seconds per name, so the hot
 * path does no database lookup; concurrent misses share one query. A
 * registry marked Deleting stops answering within one TTL.
 */
export class RegistryResolver {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inflight = new Map<string, Promise<RegistryInfo | undefined>>();
  private readonly suffix: string;

  constructor(
    private readonly registries: RegistryRepository,
    domain: string,
    private readonly ttlMs = 5000,
    private readonly now: () => number = Date.now,
  ) {
    this.suffix = `.${domain.toLowerCase()}`;
  }

  /** The registry name a Host header designates, or undefined when it is not `<name>.<domain>`. */
  registryNameOf(host: string): string | undefined {
    let hostname = host.toLowerCase();
    const colon = hostname.lastIndexOf(':');
    if (colon !== -1 && !hostname.endsWith(']')) {
      if (!/^\d{1,5}$/.test(hostname.slice(colon + 1))) return undefined;
      hostname = hostname.slice(0, colon);
    }
    if (hostname.endsWith('.')) hostname = hostname.slice(0, -1);
    if (!hostname.endsWith(this.suffix)) return undefined;
    const name = hostname.slice(0, -this.suffix.length);
    return /^[a-z0-9]{1,50}$/.test(name) ? name : undefined;
  }

  async resolve(host: string): Promise<RegistryInfo | undefined> {
    const name = this.registryNameOf(host);
    if (name === undefined) return undefined;
    const cached = this.cache.get(name);
    if (cached && cached.expiresAt > this.now()) return cached.value;
    let pending = this.inflight.get(name);
    if (!pending) {
      pending = this.registries.findServingByName(name).finally(() => this.inflight.delete(name));
      this.inflight.set(name, pending);
    }
    const value = await pending;
    if (this.cache.size >= MAX_ENTRIES) this.cache.clear();
    this.cache.set(name, { value, expiresAt: this.now() + this.ttlMs });
    return value;
  }

  /** Forgets cached answers (tests, and callers that just changed a registry). */
  invalidate(name?: string): void {
    if (name === undefined) this.cache.clear();
    else this.cache.delete(name);
  }
}
