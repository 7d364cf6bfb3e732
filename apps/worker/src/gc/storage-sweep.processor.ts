import type { JobContext, MaintenanceJob } from '@berth/events';
import { registryPrefix, type BlobStore } from '@berth/storage';
import { forEachLimit } from '../jobs/concurrency';
import type { Logger } from '../logger';
import type { WorkerMetrics } from '../metrics/worker-metrics';
import type { BlobGcRepository } from './blob-gc.repository';

/**
 * Deletes storage objects no metadata names: objects whose Blob row GC
 * deleted just before a crash, duplicates of a blob two uploads completed at
 * once, leftovers of failed requests. An object is only a candidate once it
 * is older than the grace (a request may be writing it before its row
 * commits), and it is deleted only if no Blob or Upload row of the registry
 * names its key.
 */
export class StorageSweepProcessor {
  constructor(
    private readonly repository: BlobGcRepository,
    private readonly store: BlobStore,
    private readonly logger: Logger,
    private readonly metrics: WorkerMetrics,
    private readonly settings: { graceSeconds: number; batchSize: number },
  ) {}

  async process(job: MaintenanceJob, context?: JobContext): Promise<{ objects: number }> {
    let objects = 0;
    let after: string | undefined;
    const ids = job.registryId ? [job.registryId] : undefined;
    for (;;) {
      const page = ids ?? (await this.repository.listRegistries(after, 100)).map((registry) => registry.id);
      for (const registryId of page) objects += await this.sweepRegistry(registryId, context);
      if (ids || page.length < 100) break;
      after = page[page.length - 1];
    }
    if (objects > 0) this.logger.info({ objects }, 'storage sweep: deleted unnamed objects');
    return { objects };
  }

  async sweepRegistry(registryId: string, context?: JobContext): Promise<number> {
    const cutoff = Date.now() - this.settings.graceSeconds * 1000;
    let deleted = 0;
    let batch: string[] = [];
    const flush = async () => {
      const named = await this.repository.namedKeys(registryId, batch);
      const orphans = batch.filter((key) => !named.has(key));
      await forEachLimit(orphans, 8, (key) => this.store.delete(key));
      deleted += orphans.length;
      this.metrics.sweptObjects.inc(orphans.length);
      batch = [];
    };
    for await (const object of this.store.list(registryPrefix(registryId))) {
      if (object.lastModified.getTime() >= cutoff) continue;
      batch.push(object.key);
      if (batch.length >= this.settings.batchSize) {
        if (context?.shouldYield()) await context.release();
        await flush();
      }
    }
    if (batch.length > 0) await flush();
    return deleted;
  }
}
