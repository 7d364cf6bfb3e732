import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { JobOutcome } from '@berth/events';

export interface MetricsSources {
  /** Job counts per state of each queue (read on scrape). */
  queueCounts(): Promise<Array<{ queue: string; counts: Record<string, number> }>>;
  /** Outbox rows not yet relayed (read on scrape). */
  outboxPending(): Promise<number>;
}

/** The worker's Prometheus metrics, in a registry of its own (several workers may share a test process). */
export class WorkerMetrics {
  readonly registry = new Registry();
  readonly jobs = new Counter({
    name: 'berth_worker_jobs_total',
    help: 'Job runs by queue, job name and outcome (completed, failed, retrying, released).',
    labelNames: ['queue', 'name', 'status'] as const,
    registers: [this.registry],
  });
  readonly jobDuration = new Histogram({
    name: 'berth_worker_job_duration_seconds',
    help: 'Duration of job runs by queue, job name and outcome.',
    labelNames: ['queue', 'name', 'status'] as const,
    buckets: [0.005, 0.025, 0.1, 0.5, 1, 2.5, 10, 30, 120, 600],
    registers: [this.registry],
  });
  readonly webhookDeliveries = new Counter({
    name: 'berth_worker_webhook_deliveries_total',
    help: 'Webhook delivery attempts by outcome (succeeded, retrying, failed, refused).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly gcDeletedBlobs = new Counter({
    name: 'berth_worker_gc_deleted_blobs_total',
    help: 'Unreferenced blobs deleted by the online garbage collector.',
    registers: [this.registry],
  });
  readonly gcFreedBytes = new Counter({
    name: 'berth_worker_gc_freed_bytes_total',
    help: 'Bytes freed by the online garbage collector.',
    registers: [this.registry],
  });
  readonly sweptObjects = new Counter({
    name: 'berth_worker_storage_swept_objects_total',
    help: 'Storage objects no metadata named, deleted by the storage sweep.',
    registers: [this.registry],
  });

  constructor(sources: MetricsSources) {
    collectDefaultMetrics({ register: this.registry, prefix: 'berth_worker_' });
    new Gauge({
      name: 'berth_worker_queue_jobs',
      help: 'Jobs per queue and state (queue depth).',
      labelNames: ['queue', 'state'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        try {
          for (const { queue, counts } of await sources.queueCounts()) {
            for (const [state, value] of Object.entries(counts)) this.set({ queue, state }, value);
          }
        } catch {
          // Redis unreachable: the scrape still answers, without queue depths.
        }
      },
    });
    new Gauge({
      name: 'berth_worker_outbox_pending',
      help: 'Outbox events not yet relayed to the queues.',
      registers: [this.registry],
      async collect() {
        try {
          this.set(await sources.outboxPending());
        } catch {
          this.reset();
        }
      },
    });
  }

  observeJob(outcome: JobOutcome): void {
    const labels = { queue: outcome.queue, name: outcome.name, status: outcome.status };
    this.jobs.inc(labels);
    this.jobDuration.observe(labels, outcome.durationSeconds);
  }
}
