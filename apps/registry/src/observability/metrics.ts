import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Prometheus metrics of one server instance. Each instance has its own
 * registry, so several servers in one process (tests) never collide. Labels
 * are route names, never paths, to keep cardinality bounded.
 */
export class RegistryMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'method' | 'status'>;
  readonly duration: Histogram<'route' | 'method'>;
  readonly bytesPushed: Counter;
  readonly bytesPulled: Counter;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    this.requests = new Counter({
      name: 'berth_registry_http_requests_total',
      help: 'HTTP requests by route, method and status',
      labelNames: ['route', 'method', 'status'],
      registers: [this.registry],
    });
    this.duration = new Histogram({
      name: 'berth_registry_http_request_duration_seconds',
      help: 'HTTP request latency (until the response is finished) by route and method',
      labelNames: ['route', 'method'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [this.registry],
    });
    this.bytesPushed = new Counter({
      name: 'berth_registry_bytes_pushed_total',
      help: 'Blob bytes received from clients',
      registers: [this.registry],
    });
    this.bytesPulled = new Counter({
      name: 'berth_registry_bytes_pulled_total',
      help: 'Blob bytes served to clients',
      registers: [this.registry],
    });
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'berth_registry_' });
  }

  /** Exposes the metadata cache's lookups (hits, misses), size and whether it is in use, read at scrape time. */
  watchMetadataCache(cache: { hits: number; misses: number; heldBytes: number; active: boolean }): void {
    new Counter({
      name: 'berth_registry_metadata_cache_lookups_total',
      help: 'Manifest and blob lookups by outcome: hit (answered from memory) or miss (read from the database)',
      labelNames: ['outcome'],
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc({ outcome: 'hit' }, cache.hits);
        this.inc({ outcome: 'miss' }, cache.misses);
      },
    });
    new Gauge({
      name: 'berth_registry_metadata_cache_bytes',
      help: 'Approximate bytes held by the metadata cache',
      registers: [this.registry],
      collect() {
        this.set(cache.heldBytes);
      },
    });
    new Gauge({
      name: 'berth_registry_metadata_cache_active',
      help: '1 while database change notifications are heard and the metadata cache is in use, else 0',
      registers: [this.registry],
      collect() {
        this.set(cache.active ? 1 : 0);
      },
    });
  }

  observe(route: string, method: string, status: number, seconds: number): void {
    this.requests.inc({ route, method, status: String(status) });
    this.duration.observe({ route, method }, seconds);
  }
}
