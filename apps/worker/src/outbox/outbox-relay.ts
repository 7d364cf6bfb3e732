import {
  JOB_DEFAULTS,
  OUTBOX_EVENT_TYPES,
  outboxJobFor,
  outboxJobId,
  type JobProducer,
  type OutboxEnvelope,
  type OutboxEventType,
  type RegistryDeletePayload,
  type WebhookOutboxEventType,
} from '@berth/events';
import type { Logger } from '../logger';
import type { OutboxRepository, OutboxRow, PublishResult } from './outbox.repository';

export interface OutboxRelayOptions {
  pollIntervalMs: number;
  batchSize: number;
  jobBackoffMs: number;
  /** Longest pause between polls while Redis or Postgres is failing. */
  maxBackoffMs?: number;
}

/**
 * Moves outbox rows to BullMQ. Each row becomes one job with the id
 * `outbox-<row id>`: if the process dies after the add but before the
 * commit, the row is relayed again and BullMQ ignores the duplicate add.
 * Polls every `pollIntervalMs` while idle and back-to-back while rows keep
 * coming; backs off (up to `maxBackoffMs`) while Redis or Postgres fails.
 */
export class OutboxRelay {
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly outbox: OutboxRepository,
    private readonly producer: JobProducer,
    private readonly logger: Logger,
    private readonly options: OutboxRelayOptions,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Finishes the batch in progress (its transaction commits or rolls back), then stops. */
  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
  }

  /** Relays one batch now; returns the number of rows claimed (for tests and the loop). */
  async relayOnce(): Promise<number> {
    return this.outbox.relayBatch(this.options.batchSize, (row) => this.publish(row));
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.running) {
      let claimed = 0;
      let healthy = true;
      try {
        claimed = await this.relayOnce();
        // Rows claimed but left unsent mean Redis refused them: treat as a failure for pacing.
        healthy = this.producer.isConnected() || claimed === 0;
      } catch (error) {
        healthy = false;
        this.logger.warn({ err: error }, 'outbox relay: batch failed');
      }
      failures = healthy ? 0 : failures + 1;
      if (healthy && claimed >= this.options.batchSize) continue;
      const delay = healthy
        ? this.options.pollIntervalMs
        : Math.min(this.options.pollIntervalMs * 2 ** Math.min(failures, 10), this.options.maxBackoffMs ?? 2_000);
      await this.sleep(delay);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  private async publish(row: OutboxRow): Promise<PublishResult> {
    if (!(OUTBOX_EVENT_TYPES as readonly string[]).includes(row.type) || typeof row.payload !== 'object' || row.payload === null) {
      this.logger.error({ outboxId: String(row.id), type: row.type }, 'outbox relay: unknown event type or payload, dropped');
      return { ok: false, error: `unknown event type ${row.type}`, retryLater: false };
    }
    const problem = payloadProblem(row);
    if (problem) {
      this.logger.error({ outboxId: String(row.id), type: row.type, problem }, 'outbox relay: malformed event, dropped');
      return { ok: false, error: problem, retryLater: false };
    }
    if (!(await this.producer.waitUntilConnected(500))) {
      // Fail at once rather than wait for a timeout; the row keeps its place.
      return { ok: false, error: 'Redis is not connected', retryLater: true };
    }
    const type = row.type as OutboxEventType;
    const jobId = outboxJobId(row.id);
    const retry = { attempts: JOB_DEFAULTS.attempts, backoff: { type: 'exponential' as const, delay: this.options.jobBackoffMs } };
    try {
      const { name } = outboxJobFor(type);
      if (name === 'registry.purge') {
        const payload = row.payload as RegistryDeletePayload;
        // Kept when failed: the resume-purges job retries it while the registry is still Deleting.
        await this.producer.add(
          'registry.purge',
          { registryId: payload.registryId, registryName: payload.registryName },
          { jobId, ...retry, removeOnFail: false },
        );
      } else {
        const event = { outboxId: String(row.id), type, payload: row.payload } as OutboxEnvelope<WebhookOutboxEventType>;
        await this.producer.add('webhook.fanout', { event }, { jobId, ...retry });
      }
      return { ok: true };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.logger.warn({ outboxId: String(row.id), err: message }, 'outbox relay: could not add job, will retry');
      return { ok: false, error: message, retryLater: true };
    }
  }
}

/** The fields the consumers rely on; a row without them could never be processed. */
function payloadProblem(row: OutboxRow): string | undefined {
  const payload = row.payload as Record<string, unknown>;
  if (typeof payload.registryId !== 'string') return 'payload.registryId is missing';
  if (row.type !== 'registry.delete' && typeof payload.eventId !== 'string') return 'payload.eventId is missing';
  if (row.type === 'webhook.ping' && typeof payload.webhookId !== 'string') return 'payload.webhookId is missing';
  return undefined;
}
