import { SecretBox } from '@berth/auth';
import { requireDatabaseUrl, type BerthConfig } from '@berth/config';
import { createDb, type Db } from '@berth/db';
import {
  JOB_QUEUE,
  JobConsumer,
  JobHandlerRegistry,
  JobProducer,
  QUEUES,
  schedulerId,
  type JobName,
  type JobOutcome,
  type QueueName,
} from '@berth/events';
import { createBlobStore, type BlobStore } from '@berth/storage';
import { BlobGcProcessor } from './gc/blob-gc.processor';
import { BlobGcRepository } from './gc/blob-gc.repository';
import { StorageSweepProcessor } from './gc/storage-sweep.processor';
import { createLogger, type Logger } from './logger';
import { MetricsServer } from './metrics/metrics-server';
import { WorkerMetrics } from './metrics/worker-metrics';
import { OutboxRelay } from './outbox/outbox-relay';
import { OutboxRepository } from './outbox/outbox.repository';
import { PurgeRecoveryProcessor } from './registry-purge/purge-recovery.processor';
import { RegistryPurgeProcessor } from './registry-purge/registry-purge.processor';
import { RegistryPurgeRepository } from './registry-purge/registry-purge.repository';
import { RetentionRepository } from './retention/retention.repository';
import { RetentionService } from './retention/retention.service';
import { UploadExpiryProcessor } from './uploads/upload-expiry.processor';
import { WebhookDeliveryProcessor } from './webhooks/webhook-delivery.processor';
import { WebhookFanoutProcessor } from './webhooks/webhook-fanout.processor';
import { WebhooksRepository } from './webhooks/webhooks.repository';
import { resolveWorkerOptions, type ResolvedWorkerOptions, type WorkerOverrides } from './worker-options';

export interface BerthWorker {
  /** Connects, installs the schedulers, starts the relay, the consumers and the metrics server. */
  start(): Promise<void>;
  /** Graceful: stops taking work, lets jobs in progress finish or release themselves, closes everything. */
  stop(): Promise<void>;
  /** Port of the metrics server once started (undefined when disabled). */
  readonly metricsPort: number | undefined;
  /** The producer (tests add jobs with it; the relay uses it). */
  readonly producer: JobProducer;
  readonly services: WorkerServices;
}

/** The worker's processors, callable directly (e.g. a dry run of retention). */
export interface WorkerServices {
  retention: RetentionService;
  blobGc: BlobGcProcessor;
  storageSweep: StorageSweepProcessor;
  uploadExpiry: UploadExpiryProcessor;
  purgeRecovery: PurgeRecoveryProcessor;
  relay: OutboxRelay;
}

/** Builds the worker: every part wired, nothing started (start() does that). */
export async function createWorker(config: BerthConfig, overrides: WorkerOverrides = {}): Promise<BerthWorker> {
  const options = resolveWorkerOptions({ queuePrefix: config.worker.queuePrefix, metricsPort: config.worker.metricsPort, ...overrides });
  const logger = overrides.logger ?? createLogger(config);
  const ownsDb = !overrides.db;
  const db: Db = overrides.db ?? createDb(requireDatabaseUrl(config), { maxConnections: 10 });
  const store: BlobStore = overrides.blobStore ?? (await createBlobStore(config.storage));
  const connection = { redisUrl: config.redisUrl, prefix: options.queuePrefix };
  const producer = new JobProducer(connection, { failFast: true });

  const outbox = new OutboxRepository(db);
  const metrics = new WorkerMetrics({
    queueCounts: async () => {
      // A scrape must answer even while Redis is unreachable.
      if (!producer.isConnected()) return [];
      return Promise.all(
        Object.values(QUEUES).map(async (queue) => ({
          queue,
          counts: await producer.queue(queue).getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized'),
        })),
      );
    },
    outboxPending: () => outbox.countPending(),
  });

  const webhooks = new WebhooksRepository(db);
  const gcRepository = new BlobGcRepository(db);
  const purgeRepository = new RegistryPurgeRepository(db);
  const services: WorkerServices = {
    retention: new RetentionService(new RetentionRepository(db), logger),
    blobGc: new BlobGcProcessor(gcRepository, store, logger, metrics, { graceSeconds: config.gc.graceSeconds, batchSize: options.gcBatchSize }),
    storageSweep: new StorageSweepProcessor(gcRepository, store, logger, metrics, {
      graceSeconds: options.storageSweepGraceSeconds ?? Math.max(config.gc.graceSeconds, 3600),
      batchSize: 500,
    }),
    uploadExpiry: new UploadExpiryProcessor(db, store, logger, { batchSize: 100 }),
    purgeRecovery: new PurgeRecoveryProcessor(purgeRepository, producer, logger, { minAgeSeconds: options.purgeRecoveryAfterSeconds }),
    relay: new OutboxRelay(outbox, producer, logger, {
      pollIntervalMs: options.relayPollIntervalMs,
      batchSize: options.relayBatchSize,
      jobBackoffMs: options.jobBackoffMs,
    }),
  };
  const fanout = new WebhookFanoutProcessor(webhooks, producer, {
    maxAttempts: config.webhooks.maxAttempts,
    backoffMs: options.webhookBackoffMs,
  });
  const delivery = new WebhookDeliveryProcessor(webhooks, new SecretBox(config.secretKey), config, logger, metrics, options.resolveHost);
  const purge = new RegistryPurgeProcessor(purgeRepository, store, logger, {
    batchSize: options.purgeBatchSize,
    pauseMs: options.purgePauseMs,
  });

  const handlers = new JobHandlerRegistry()
    .register('webhook.fanout', (data) => fanout.process(data))
    .register('webhook.deliver', (data, context) => delivery.process(data, context))
    .register('registry.purge', (data, context) => purge.process(data, context))
    .register('gc.blobs', (data, context) => services.blobGc.process(data, context))
    .register('gc.storage-sweep', (data, context) => services.storageSweep.process(data, context))
    .register('retention.apply', (data, context) => services.retention.process(data, context))
    .register('uploads.expire', (data, context) => services.uploadExpiry.process(data, context))
    .register('registry.resume-purges', (data) => services.purgeRecovery.process(data));
  handlers.assertComplete();

  const onOutcome = (outcome: JobOutcome) => {
    metrics.observeJob(outcome);
    if (outcome.status === 'failed') {
      logger.warn({ queue: outcome.queue, job: outcome.name, err: outcome.error }, 'job failed');
    }
  };
  const consumers = handlers.queues().map(
    (queue) =>
      new JobConsumer(queue, connection, handlers, {
        concurrency: concurrencyOf(queue, options),
        lockDurationMs: options.lockDurationMs,
        stalledIntervalMs: options.stalledIntervalMs,
        onOutcome,
        onError: (error) => logger.warn({ queue, err: error.message }, 'queue connection error'),
      }),
  );

  let running = false;
  let metricsPort: number | undefined;
  const server = new MetricsServer(metrics, {
    live: () => running,
    ready: async () => {
      const checks: Record<string, string> = {};
      checks.postgres = await db.$queryRaw`SELECT 1`.then(
        () => 'ok',
        (error: Error) => error.message,
      );
      checks.redis = producer.isConnected() ? 'ok' : 'not connected';
      return { ok: Object.values(checks).every((value) => value === 'ok'), checks };
    },
  });

  return {
    get metricsPort() {
      return metricsPort;
    },
    producer,
    services,
    async start() {
      if (running) return;
      running = true;
      if (options.metricsPort !== null) metricsPort = await server.listen(options.metricsPort, options.metricsHost);
      for (const consumer of consumers) consumer.start();
      if (options.relay) services.relay.start();
      if (options.schedules !== false) {
        // Installing schedulers needs Redis; a worker started while Redis is down still relays and consumes later.
        void installSchedules(producer, options.schedules, logger, () => running);
      }
      logger.info({ queues: consumers.map((consumer) => consumer.queueName), metricsPort }, 'worker started');
    },
    async stop() {
      if (!running) return;
      running = false;
      await services.relay.stop();
      // Without Redis no job can finish or be handed back; waiting would only delay the exit.
      await stopConsumers(consumers, producer.isConnected() ? options.shutdownTimeoutMs : 0, logger);
      await producer.close();
      await server.close();
      if (ownsDb) await db.$disconnect();
      logger.info('worker stopped');
    },
  };
}

function concurrencyOf(queue: QueueName, options: ResolvedWorkerOptions): number {
  switch (queue) {
    case QUEUES.webhooks:
      return options.deliveryConcurrency;
    case QUEUES.events:
      return 4;
    default:
      return 1;
  }
}

/** Upserts one job scheduler per scheduled job (the same ids on every replica, so one schedule each). */
async function installSchedules(
  producer: JobProducer,
  schedules: Partial<Record<JobName, number>>,
  logger: Logger,
  running: () => boolean,
): Promise<void> {
  for (let attempt = 0; running(); attempt++) {
    try {
      for (const [name, every] of Object.entries(schedules) as Array<[JobName, number | undefined]>) {
        const queue = producer.queue(JOB_QUEUE[name]);
        if (!every || every <= 0) {
          await queue.removeJobScheduler(schedulerId(name));
          continue;
        }
        await queue.upsertJobScheduler(schedulerId(name), { every }, { name, data: {} });
      }
      return;
    } catch (error) {
      if (!running()) return;
      if (attempt % 60 === 0) logger.warn({ err: (error as Error).message }, 'cannot install job schedulers yet; retrying');
      await new Promise((resolve) => setTimeout(resolve, 1_000).unref());
    }
  }
}

async function stopConsumers(consumers: JobConsumer[], timeoutMs: number, logger: Logger): Promise<void> {
  if (timeoutMs <= 0) {
    await Promise.all(consumers.map((consumer) => consumer.kill()));
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const graceful = Promise.all(consumers.map((consumer) => consumer.stop())).then(() => true);
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  const finished = await Promise.race([graceful, timeout]);
  clearTimeout(timer);
  if (!finished) {
    // Jobs still running stay locked until their lock expires; another worker then takes them over.
    logger.warn('shutdown: jobs still running after the grace period, closing anyway');
    await Promise.all(consumers.map((consumer) => consumer.kill()));
  }
}
