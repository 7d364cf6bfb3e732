import { Client } from 'pg';
import type { Logger } from '../observability/logger';

/** The channel the database's triggers notify (migration metadata_change_notify). */
export const METADATA_CHANNEL = 'berth_metadata';

interface Entry {
  value: unknown;
  bytes: number;
  epoch: number;
  generation: number;
  expiresAt: number;
}

/** Bookkeeping counted per entry on top of its value's own bytes. */
const ENTRY_OVERHEAD_BYTES = 256;

export interface MetadataCacheOptions {
  /** Bytes of cached answers kept at most (oldest dropped first); the data plane's heap is capped. */
  maxBytes?: number;
  /** Longest an entry is served, whatever the notifications say: a safety net, not the mechanism. */
  ttlMs?: number;
  now?: () => number;
}

/**
 * Answers of the hot lookups (manifest by tag or digest, blob by digest),
 * kept in memory per registry and dropped when the registry's metadata
 * changes. A lookup that hit the cache costs no database round trip, which
 * is half the cost of a manifest GET.
 *
 * Consistency: every change to what those lookups read sends NOTIFY with the
 * registry id (database triggers, whoever writes), and the data plane also
 * drops a registry's entries itself right after its own writes commit, so a
 * client reads its own writes on the replica that took them; other replicas
 * follow within the notification's delivery time. A lookup fills the cache
 * only if no change to its registry arrived while it ran (generation check),
 * so an answer read before a change is never kept after it. While the
 * listening connection is down nothing is served from or kept in the cache
 * (notifications may be missed then), and everything is dropped.
 */
export class MetadataCache {
  private readonly entries = new Map<string, Entry>();
  private readonly generations = new Map<string, number>();
  private epoch = 0;
  private live = false;
  private readonly maxBytes: number;
  private bytes = 0;
  private readonly ttlMs: number;
  private readonly now: () => number;
  hits = 0;
  misses = 0;

  constructor(options: MetadataCacheOptions = {}) {
    this.maxBytes = options.maxBytes ?? 16 * 1024 * 1024;
    this.ttlMs = options.ttlMs ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  /** Whether changes are being heard (the cache is in use). */
  get active(): boolean {
    return this.live;
  }

  /** Changes are heard from now on (after LISTEN succeeded): start caching, from nothing. */
  enable(): void {
    this.dropAll();
    this.live = true;
  }

  /** Changes may be missed from now on: stop using the cache. */
  disable(): void {
    this.live = false;
    this.dropAll();
  }

  /** The registry's metadata changed: its entries are no longer served. */
  invalidate(registryId: string): void {
    this.generations.set(registryId, (this.generations.get(registryId) ?? 0) + 1);
  }

  /**
   * Runs a write to the registry's metadata and drops the registry's entries
   * when it ends, committed or not, so the writer's next read on this replica
   * sees the change (other replicas follow with the database notification).
   */
  async write<T>(registryId: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } finally {
      this.invalidate(registryId);
    }
  }

  /**
   * The cached answer for `key` of `registryId`, else `load()`'s, kept when
   * it exists (`bytesOf` gives its size; undefined answers are not kept) and
   * nothing changed for the registry meanwhile.
   */
  async get<T>(registryId: string, key: string, load: () => Promise<T | undefined>, bytesOf: (value: T) => number): Promise<T | undefined> {
    const fullKey = `${registryId}\u0000${key}`;
    const generation = this.generations.get(registryId) ?? 0;
    if (this.live) {
      const entry = this.entries.get(fullKey);
      if (entry && entry.epoch === this.epoch && entry.generation === generation && entry.expiresAt > this.now()) {
        this.hits += 1;
        return entry.value as T;
      }
      if (entry) this.remove(fullKey, entry);
    }
    this.misses += 1;
    const epoch = this.epoch;
    const value = await load();
    if (value !== undefined && this.live && epoch === this.epoch && generation === (this.generations.get(registryId) ?? 0)) {
      const bytes = bytesOf(value) + ENTRY_OVERHEAD_BYTES;
      if (bytes <= this.maxBytes / 16) {
        const previous = this.entries.get(fullKey);
        if (previous) this.remove(fullKey, previous);
        while (this.bytes + bytes > this.maxBytes) this.evictOldest();
        this.entries.set(fullKey, { value, bytes, epoch, generation, expiresAt: this.now() + this.ttlMs });
        this.bytes += bytes;
      }
    }
    return value;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Bytes of the entries held. */
  get heldBytes(): number {
    return this.bytes;
  }

  private dropAll(): void {
    this.epoch += 1;
    this.entries.clear();
    this.bytes = 0;
  }

  private remove(key: string, entry: Entry): void {
    this.entries.delete(key);
    this.bytes -= entry.bytes;
  }

  /** Drops the entry stored longest ago (Map keeps insertion order). */
  private evictOldest(): void {
    const oldest = this.entries.entries().next();
    if (oldest.done) {
      this.bytes = 0;
      return;
    }
    this.remove(oldest.value[0], oldest.value[1]);
  }
}

/**
 * Keeps a connection LISTENing to the metadata channel and feeds the cache:
 * each notification invalidates its registry; losing the connection disables
 * the cache until a new one listens again (retried with backoff).
 */
export class MetadataChangeListener {
  private client: Client | undefined;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private attempt = 0;

  constructor(
    private readonly databaseUrl: string,
    private readonly cache: MetadataCache,
    private readonly log: Logger,
  ) {}

  /** Connects and listens; resolves once listening or after the first failure (then retries in the background). */
  async start(): Promise<void> {
    await this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.cache.disable();
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const client = new Client({ connectionString: this.databaseUrl, application_name: 'berth-registry-listen' });
    client.on('notification', (message) => {
      if (message.channel === METADATA_CHANNEL && message.payload) this.cache.invalidate(message.payload);
    });
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${METADATA_CHANNEL}`);
    } catch (error) {
      this.log.warn({ err: error }, 'metadata cache off: cannot listen for changes');
      this.lost(client);
      return;
    }
    if (this.stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.attempt = 0;
    this.cache.enable();
  }

  private lost(client: Client): void {
    if (client !== this.client && this.client !== undefined) return;
    if (this.client === client) this.client = undefined;
    this.cache.disable();
    client.end().catch(() => undefined);
    if (this.stopped || this.retryTimer) return;
    const delay = Math.min(30_000, 250 * 2 ** this.attempt++);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.connect();
    }, delay);
    this.retryTimer.unref();
  }
}
