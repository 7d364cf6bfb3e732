import type { Db } from '@berth/db';
import { DEFAULT_SCHEDULES, JOB_DEFAULTS, type HostResolver, type JobName } from '@berth/events';
import type { BlobStore } from '@berth/storage';
import type { Logger } from './logger';

/**
 * Knobs of the worker that are not (yet) environment configuration. Defaults
 * suit production; tests shorten the timings and pick their own queue prefix.
 */
export interface WorkerOverrides {
  /** Shares a database client (it is then not closed by stop()). */
  db?: Db;
  blobStore?: BlobStore;
  logger?: Logger;
  /** BullMQ key prefix; every process of one installation must use the same. Default `berth`. */
  queuePrefix?: string;
  /** Port of /metrics and /healthz; 0 = ephemeral, null = no server. Default 9464. */
  metricsPort?: number | null;
  metricsHost?: string;
  /** Outbox relay: idle poll interval and rows per transaction. */
  relayPollIntervalMs?: number;
  relayBatchSize?: number;
  /** Run the outbox relay in this process (default true). */
  relay?: boolean;
  /** First retry delay of a webhook delivery; doubles per attempt. */
  webhookBackoffMs?: number;
  /** First retry delay of other jobs (fan-out, purge) after an infrastructure error. */
  jobBackoffMs?: number;
  /** How long a job's lock lasts; a dead worker's jobs are taken over after it. */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  /** Repeat interval (ms) per scheduled job; false = install no schedulers. */
  schedules?: Partial<Record<JobName, number>> | false;
  /** Rows or objects per purge step, and a pause between steps to spare storage. */
  purgeBatchSize?: number;
  purgePauseMs?: number;
  /** A registry Deleting for this long with a failed purge job gets the job retried. Default 1 h. */
  purgeRecoveryAfterSeconds?: number;
  gcBatchSize?: number;
  /** Unnamed storage objects younger than this are left alone by the sweep. Default max(GC grace, 1 h). */
  storageSweepGraceSeconds?: number;
  /** Webhook deliveries in parallel per process. */
  deliveryConcurrency?: number;
  /** How long stop() waits for jobs in progress before closing hard. */
  shutdownTimeoutMs?: number;
  /** DNS resolution for webhook targets (tests map names to addresses). */
  resolveHost?: HostResolver;
}

export interface ResolvedWorkerOptions {
  queuePrefix: string;
  metricsPort: number | null;
  metricsHost: string;
  relay: boolean;
  relayPollIntervalMs: number;
  relayBatchSize: number;
  webhookBackoffMs: number;
  jobBackoffMs: number;
  lockDurationMs: number;
  stalledIntervalMs: number;
  schedules: Partial<Record<JobName, number>> | false;
  purgeBatchSize: number;
  purgePauseMs: number;
  purgeRecoveryAfterSeconds: number;
  gcBatchSize: number;
  storageSweepGraceSeconds: number | undefined;
  deliveryConcurrency: number;
  shutdownTimeoutMs: number;
  resolveHost: HostResolver | undefined;
}

export function resolveWorkerOptions(overrides: WorkerOverrides): ResolvedWorkerOptions {
  return {
    queuePrefix: overrides.queuePrefix ?? 'berth',
    metricsPort: overrides.metricsPort === undefined ? 9464 : overrides.metricsPort,
    metricsHost: overrides.metricsHost ?? '0.0.0.0',
    relay: overrides.relay ?? true,
    relayPollIntervalMs: overrides.relayPollIntervalMs ?? 250,
    relayBatchSize: overrides.relayBatchSize ?? 100,
    webhookBackoffMs: overrides.webhookBackoffMs ?? JOB_DEFAULTS.webhookBackoffMs,
    jobBackoffMs: overrides.jobBackoffMs ?? JOB_DEFAULTS.backoff.delay,
    lockDurationMs: overrides.lockDurationMs ?? JOB_DEFAULTS.lockDurationMs,
    stalledIntervalMs: overrides.stalledIntervalMs ?? JOB_DEFAULTS.stalledIntervalMs,
    schedules: overrides.schedules === false ? false : { ...DEFAULT_SCHEDULES, ...overrides.schedules },
    purgeBatchSize: overrides.purgeBatchSize ?? 500,
    purgePauseMs: overrides.purgePauseMs ?? 0,
    purgeRecoveryAfterSeconds: overrides.purgeRecoveryAfterSeconds ?? 3600,
    gcBatchSize: overrides.gcBatchSize ?? 200,
    storageSweepGraceSeconds: overrides.storageSweepGraceSeconds,
    deliveryConcurrency: overrides.deliveryConcurrency ?? 8,
    shutdownTimeoutMs: overrides.shutdownTimeoutMs ?? 25_000,
    resolveHost: overrides.resolveHost,
  };
}
