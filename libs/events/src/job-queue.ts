import { DelayedError, Queue, UnrecoverableError, Worker, type Job, type JobsOptions } from 'bullmq';
import IORedis from 'ioredis';
import { JOB_DEFAULTS, JOB_NAMES, JOB_QUEUE, type JobName, type JobPayloads, type QueueName } from './queues';

/**
 * The BullMQ producer and consumer base. Apps only produce (JobProducer) or
 * consume (JobHandlerRegistry + JobConsumer); queue wiring, key prefixes,
 * retention of finished jobs and the "every job name has exactly one
 * handler" check live here.
 */
export interface QueueConnection {
  redisUrl: string;
  /** BullMQ key prefix: separates installations (and test files) sharing one Redis. */
  prefix: string;
}

export interface AddJobOptions extends Omit<JobsOptions, 'jobId'> {
  /** Required: deterministic ids make every add idempotent. */
  jobId: string;
}

export interface JobProducerOptions {
  /**
   * Fail adds at once while Redis is unreachable instead of queueing them in
   * memory (the outbox relay wants an error it can record and retry later).
   */
  failFast?: boolean;
  /** Upper bound of one add, in ms, when failFast is set. */
  addTimeoutMs?: number;
}

/** Adds jobs to Berth's queues, each on the queue its name belongs to. */
export class JobProducer {
  private readonly queues = new Map<QueueName, Queue>();
  private readonly redis: IORedis;

  constructor(
    private readonly connection: QueueConnection,
    private readonly options: JobProducerOptions = {},
  ) {
    this.redis = new IORedis(connection.redisUrl, {
      maxRetriesPerRequest: options.failFast ? 1 : null,
      enableOfflineQueue: !options.failFast,
      // Reconnect steadily (a relay outlives Redis restarts); the first retries are fast.
      retryStrategy: (times) => Math.min(100 * times, 2_000),
    });
    // Errors surface on the adds; the connection itself just keeps reconnecting.
    this.redis.on('error', () => undefined);
  }

  /** The BullMQ queue (created on first use), for getters such as job counts. */
  queue(name: QueueName): Queue {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue(name, {
        connection: this.redis,
        prefix: this.connection.prefix,
        defaultJobOptions: {
          removeOnComplete: JOB_DEFAULTS.removeOnComplete,
          removeOnFail: JOB_DEFAULTS.removeOnFail,
        },
      });
      queue.on('error', () => undefined);
      this.queues.set(name, queue);
    }
    return queue;
  }

  /** Adds a job; a job with the same id already present makes this a no-op. */
  async add<N extends JobName>(name: N, data: JobPayloads[N], options: AddJobOptions): Promise<void> {
    const queue = this.queue(JOB_QUEUE[name]);
    await this.bounded(queue.add(name, data as never, options));
  }

  /** Adds several jobs of one name in one round trip. */
  async addBulk<N extends JobName>(name: N, jobs: Array<{ data: JobPayloads[N]; options: AddJobOptions }>): Promise<void> {
    if (jobs.length === 0) return;
    const queue = this.queue(JOB_QUEUE[name]);
    await this.bounded(queue.addBulk(jobs.map((job) => ({ name, data: job.data as never, opts: job.options }))));
  }

  /** Whether the Redis connection is currently usable. */
  isConnected(): boolean {
    return this.redis.status === 'ready';
  }

  /** Resolves true once connected, false if that takes longer than `timeoutMs`. */
  async waitUntilConnected(timeoutMs: number): Promise<boolean> {
    if (this.isConnected()) return true;
    return new Promise((resolve) => {
      const done = (connected: boolean) => {
        clearTimeout(timer);
        this.redis.off('ready', onReady);
        resolve(connected);
      };
      const onReady = () => done(true);
      const timer = setTimeout(() => done(this.isConnected()), timeoutMs);
      this.redis.on('ready', onReady);
    });
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.queues.values()].map((queue) => queue.close()));
    this.queues.clear();
    this.redis.disconnect();
  }

  private async bounded<T>(work: Promise<T>): Promise<T> {
    if (!this.options.failFast) return work;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('Redis did not answer in time')), this.options.addTimeoutMs ?? 3_000);
    });
    // A late outcome of a timed-out add is harmless (idempotent ids) and must not be unhandled.
    work.catch(() => undefined);
    try {
      return await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** What a handler gets besides its payload. */
export interface JobContext {
  job: Job;
  /** 1-based number of this attempt (retries after failures count; stalled restarts do not). */
  attempt: number;
  /** Attempts the job is allowed in total. */
  maxAttempts: number;
  /** True once the consumer is shutting down: long jobs should call `release()` at a safe point. */
  shouldYield(): boolean;
  /**
   * Puts the job back in the queue without spending an attempt and ends this
   * run; call at a point where the job can resume (it must be idempotent).
   */
  release(): Promise<never>;
}

export type JobHandler<N extends JobName> = (data: JobPayloads[N], context: JobContext) => Promise<unknown>;

/**
 * Job handlers by name. Registering a name twice throws; `assertComplete`
 * (called at boot) throws when a job name has no handler, so a new job name
 * cannot be added without its consumer.
 */
export class JobHandlerRegistry {
  private readonly handlers = new Map<JobName, JobHandler<JobName>>();

  register<N extends JobName>(name: N, handler: JobHandler<N>): this {
    if (this.handlers.has(name)) throw new Error(`job ${name} already has a handler`);
    this.handlers.set(name, handler as unknown as JobHandler<JobName>);
    return this;
  }

  get(name: string): JobHandler<JobName> | undefined {
    return this.handlers.get(name as JobName);
  }

  /** Throws unless every job name in JOB_NAMES has exactly one handler. */
  assertComplete(): void {
    const missing = Object.values(JOB_NAMES).filter((name) => !this.handlers.has(name));
    if (missing.length > 0) throw new Error(`no handler for job(s): ${missing.join(', ')}`);
  }

  /** The queues that have at least one handler. */
  queues(): QueueName[] {
    return [...new Set([...this.handlers.keys()].map((name) => JOB_QUEUE[name]))];
  }
}

export interface JobOutcome {
  queue: QueueName;
  name: string;
  status: 'completed' | 'failed' | 'retrying' | 'released';
  durationSeconds: number;
  error?: unknown;
}

export interface JobConsumerOptions {
  concurrency?: number;
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  maxStalledCount?: number;
  /** Called after every run, e.g. for metrics and logs. */
  onOutcome?: (outcome: JobOutcome) => void;
  /** Connection and internal errors (BullMQ keeps retrying; these are for logs). */
  onError?: (error: Error) => void;
}

/** One BullMQ worker on one queue, dispatching by job name to the registry's handlers. */
export class JobConsumer {
  private readonly worker: Worker;
  private stopping = false;

  constructor(
    readonly queueName: QueueName,
    connection: QueueConnection,
    handlers: JobHandlerRegistry,
    options: JobConsumerOptions = {},
  ) {
    this.worker = new Worker(
      queueName,
      async (job: Job, token?: string) => {
        const started = process.hrtime.bigint();
        const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
        const maxAttempts = job.opts.attempts ?? 1;
        const handler = handlers.get(job.name);
        if (!handler) throw new UnrecoverableError(`no handler for job ${job.name} on ${queueName}`);
        let released = false;
        const context: JobContext = {
          job,
          attempt: job.attemptsMade + 1,
          maxAttempts,
          shouldYield: () => this.stopping,
          release: async () => {
            released = true;
            await job.moveToDelayed(Date.now(), token);
            throw new DelayedError('released by a stopping worker');
          },
        };
        try {
          const result = await handler(job.data, context);
          options.onOutcome?.({ queue: queueName, name: job.name, status: 'completed', durationSeconds: seconds() });
          return result;
        } catch (error) {
          const final = error instanceof UnrecoverableError || job.attemptsMade + 1 >= maxAttempts;
          const status = released ? 'released' : final ? 'failed' : 'retrying';
          options.onOutcome?.({ queue: queueName, name: job.name, status, durationSeconds: seconds(), error });
          throw error;
        }
      },
      {
        connection: {
          url: connection.redisUrl,
          maxRetriesPerRequest: null,
          // Steady reconnects (BullMQ's default grows towards 20 s), so work resumes soon after Redis does.
          retryStrategy: (times: number) => Math.min(250 * times, 2_000),
        },
        prefix: connection.prefix,
        autorun: false,
        concurrency: options.concurrency ?? 1,
        lockDuration: options.lockDurationMs ?? JOB_DEFAULTS.lockDurationMs,
        stalledInterval: options.stalledIntervalMs ?? JOB_DEFAULTS.stalledIntervalMs,
        maxStalledCount: options.maxStalledCount ?? JOB_DEFAULTS.maxStalledCount,
        removeOnComplete: JOB_DEFAULTS.removeOnComplete,
        removeOnFail: JOB_DEFAULTS.removeOnFail,
      },
    );
    // Connection errors are retried by BullMQ; they must not crash the process.
    this.worker.on('error', (error) => options.onError?.(error));
  }

  start(): void {
    void this.worker.run().catch(() => undefined);
  }

  /** Waits for the jobs in progress (long ones release themselves), then closes. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.worker.close();
  }

  /** Closes at once; jobs in progress are recovered by another worker's stalled check. */
  async kill(): Promise<void> {
    this.stopping = true;
    await this.worker.close(true);
  }

  /** Resolves when the worker is connected and ready to take jobs. */
  async waitUntilReady(): Promise<void> {
    await this.worker.waitUntilReady();
  }
}
