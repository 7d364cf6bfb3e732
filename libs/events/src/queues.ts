import type { OutboxEventType, OutboxPayloads } from './outbox-events';

/**
 * Queues, jobs and their payloads: the one place producers (the outbox relay,
 * the fan-out, the management API) and consumers (apps/worker) agree on.
 *
 *   berth-events       webhook.fanout      one per outbox event with webhook meaning
 *   berth-webhooks     webhook.deliver     one per (event, webhook); retried with backoff
 *   berth-registry     registry.purge      one per registry.delete outbox event
 *   berth-maintenance  gc.blobs, gc.storage-sweep, retention.apply, uploads.expire,
 *                      registry.resume-purges
 *                                          scheduled (job schedulers), also on demand
 */
export const QUEUES = {
  events: 'berth-events',
  webhooks: 'berth-webhooks',
  registry: 'berth-registry',
  maintenance: 'berth-maintenance',
} as const;
export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

export const JOB_NAMES = {
  webhookFanout: 'webhook.fanout',
  webhookDeliver: 'webhook.deliver',
  registryPurge: 'registry.purge',
  blobGc: 'gc.blobs',
  storageSweep: 'gc.storage-sweep',
  retention: 'retention.apply',
  uploadExpiry: 'uploads.expire',
  resumePurges: 'registry.resume-purges',
} as const;
export type JobName = (typeof JOB_NAMES)[keyof typeof JOB_NAMES];

/** The queue each job runs on; a job name belongs to exactly one queue. */
export const JOB_QUEUE: { readonly [N in JobName]: QueueName } = {
  'webhook.fanout': QUEUES.events,
  'webhook.deliver': QUEUES.webhooks,
  'registry.purge': QUEUES.registry,
  'gc.blobs': QUEUES.maintenance,
  'gc.storage-sweep': QUEUES.maintenance,
  'retention.apply': QUEUES.maintenance,
  'uploads.expire': QUEUES.maintenance,
  'registry.resume-purges': QUEUES.maintenance,
};

/** The outbox event types that can produce webhook deliveries. */
export type WebhookOutboxEventType = Extract<OutboxEventType, 'image.push' | 'image.delete' | 'repository.delete' | 'webhook.ping'>;

/** An outbox event as the relay hands it to a queue (sizes are numbers, ids strings). */
export type OutboxEnvelope<T extends OutboxEventType = OutboxEventType> = {
  [K in T]: { outboxId: string; type: K; payload: OutboxPayloads[K] };
}[T];

export interface WebhookFanoutJob {
  event: OutboxEnvelope<WebhookOutboxEventType>;
}

export interface WebhookDeliverJob {
  webhookId: string;
  registryId: string;
  /** The event's id: the same for every webhook and every attempt. */
  eventId: string;
  event: OutboxEnvelope<WebhookOutboxEventType>;
}

export interface RegistryPurgeJob {
  registryId: string;
  registryName: string;
}

/** Scheduled maintenance; `registryId` limits a run to one registry (on-demand runs). */
export interface MaintenanceJob {
  registryId?: string;
}

export interface RetentionJob extends MaintenanceJob {
  /** Compute and return what would be deleted, delete nothing. */
  dryRun?: boolean;
}

export interface JobPayloads {
  'webhook.fanout': WebhookFanoutJob;
  'webhook.deliver': WebhookDeliverJob;
  'registry.purge': RegistryPurgeJob;
  'gc.blobs': MaintenanceJob;
  'gc.storage-sweep': MaintenanceJob;
  'retention.apply': RetentionJob;
  'uploads.expire': MaintenanceJob;
  'registry.resume-purges': MaintenanceJob;
}

// Deterministic job ids. BullMQ ignores an add whose id already exists, so a
// producer that retries after a crash (between add and commit) adds nothing
// twice. Ids must not be plain integers nor contain ':' (BullMQ rules).

/** The job the relay creates for an outbox row. */
export function outboxJobId(outboxId: bigint | string): string {
  return `outbox-${outboxId}`;
}

/** One delivery of one event to one webhook (all its attempts share it). */
export function deliveryJobId(eventId: string, webhookId: string): string {
  return `deliver-${eventId}-${webhookId}`;
}

/** Scheduler ids of the repeatable maintenance jobs (one scheduler per job, shared by all replicas). */
export function schedulerId(name: JobName): string {
  return `schedule-${name.replace(/[^a-z0-9-]/gi, '-')}`;
}

/** Which queue and job an outbox event becomes. */
export function outboxJobFor(type: OutboxEventType): { queue: QueueName; name: JobName } {
  switch (type) {
    case 'image.push':
    case 'image.delete':
    case 'repository.delete':
    case 'webhook.ping':
      return { queue: QUEUES.events, name: JOB_NAMES.webhookFanout };
    case 'registry.delete':
      return { queue: QUEUES.registry, name: JOB_NAMES.registryPurge };
    default:
      return assertUnreachable(type);
  }
}

export function assertUnreachable(value: never): never {
  throw new Error(`unexpected value: ${String(value)}`);
}

/** Retry and retention defaults, in one place. Failed jobs are kept for inspection. */
export const JOB_DEFAULTS = {
  /** Completed jobs stay long enough for a late duplicate add (same id) to be a no-op. */
  removeOnComplete: { age: 3 * 24 * 3600, count: 50_000 },
  /** Failed jobs are kept a week for inspection. */
  removeOnFail: { age: 7 * 24 * 3600, count: 50_000 },
  /** Fan-out and purge retry on infrastructure errors (database, storage). */
  attempts: 10,
  backoff: { type: 'exponential' as const, delay: 1_000 },
  /** Webhook delivery: attempts come from config (BERTH_WEBHOOK_MAX_ATTEMPTS); this is the first backoff. */
  webhookBackoffMs: 5_000,
  /** A job whose worker died is taken over after its lock expires. */
  lockDurationMs: 30_000,
  stalledIntervalMs: 15_000,
  /** A purge survives this many worker deaths before it is failed for inspection. */
  maxStalledCount: 10,
} as const;

/** How often the maintenance jobs run. */
export const DEFAULT_SCHEDULES: { readonly [N in JobName]?: number } = {
  'gc.blobs': 10 * 60_000,
  'gc.storage-sweep': 6 * 3600_000,
  'retention.apply': 24 * 3600_000,
  'uploads.expire': 15 * 60_000,
  'registry.resume-purges': 15 * 60_000,
};
