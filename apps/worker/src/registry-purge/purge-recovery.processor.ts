import type { JobProducer, MaintenanceJob, RegistryPurgeJob } from '@berth/events';
import type { Logger } from '../logger';
import type { RegistryPurgeRepository } from './registry-purge.repository';

/**
 * Safety net for purges that used up their attempts (e.g. storage was down
 * for an hour): a registry still Deleting has its failed purge job retried,
 * so the name is eventually freed without an operator. Purge jobs are kept
 * when they fail (removeOnFail: false) for exactly this reason. A running or
 * waiting purge is left alone, so two purges never run for one registry.
 */
export class PurgeRecoveryProcessor {
  constructor(
    private readonly repository: RegistryPurgeRepository,
    private readonly producer: JobProducer,
    private readonly logger: Logger,
    private readonly settings: { minAgeSeconds: number },
  ) {}

  async process(_job: MaintenanceJob): Promise<{ retried: number }> {
    const pending = new Set(await this.repository.listPendingDeletions(this.settings.minAgeSeconds));
    if (pending.size === 0) return { retried: 0 };
    const queue = this.producer.queue('berth-registry');
    let retried = 0;
    const pageSize = 500;
    for (let start = 0; ; start += pageSize) {
      const failed = await queue.getFailed(start, start + pageSize - 1);
      for (const job of failed) {
        const data = job.data as RegistryPurgeJob;
        if (job.name !== 'registry.purge' || !pending.has(data.registryId)) continue;
        // One retry per registry per run, even if it has several failed purge jobs.
        pending.delete(data.registryId);
        await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
        retried++;
        this.logger.warn({ registryId: data.registryId, jobId: job.id }, 'registry purge: retrying a failed purge');
      }
      if (failed.length < pageSize) break;
    }
    return { retried };
  }
}
