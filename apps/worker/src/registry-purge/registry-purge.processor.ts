import { UnrecoverableError } from 'bullmq';
import type { JobContext, RegistryPurgeJob } from '@berth/events';
import { registryPrefix, type BlobStore } from '@berth/storage';
import { forEachLimit, sleep } from '../jobs/concurrency';
import type { Logger } from '../logger';
import type { RegistryPurgeRepository } from './registry-purge.repository';

export interface PurgeSettings {
  batchSize: number;
  /** Pause between steps, to spare the storage account and the database. */
  pauseMs: number;
  /** Storage deletes in flight. */
  storageConcurrency?: number;
}

export interface PurgeResult {
  registryId: string;
  alreadyPurged: boolean;
  deleted: { manifests: number; blobs: number; uploads: number; repositories: number; objects: number };
}

/**
 * Purges a registry marked Deleting: storage objects, then metadata in
 * batches, then the Registry row (which frees the name). Every step only
 * deletes, and deletes what the previous steps left, so the job can be
 * stopped anywhere (SIGTERM releases it between batches; SIGKILL leaves it
 * to BullMQ's stalled-job recovery) and rerun from the start until done.
 *
 * Order: index links, manifests (tags and blob links cascade), then per
 * batch of blobs and uploads their objects before their rows (a row is the
 * only record of a key outside the registry's prefix), repositories,
 * delivery history, a sweep of the registry's storage prefix, the Registry
 * row, and a last sweep for objects a request in flight wrote meanwhile.
 */
export class RegistryPurgeProcessor {
  constructor(
    private readonly repository: RegistryPurgeRepository,
    private readonly store: BlobStore,
    private readonly logger: Logger,
    private readonly settings: PurgeSettings,
  ) {}

  async process(job: RegistryPurgeJob, context: JobContext): Promise<PurgeResult> {
    const { registryId } = job;
    const deleted = { manifests: 0, blobs: 0, uploads: 0, repositories: 0, objects: 0 };
    const registry = await this.repository.findRegistry(registryId);
    if (!registry) {
      // Done before (a rerun after the last step): only make sure storage is empty.
      deleted.objects += await this.sweepPrefix(registryId, context);
      return { registryId, alreadyPurged: true, deleted };
    }
    if (registry.provisioningState !== 'Deleting') {
      // Never purge a live registry, whatever asked for it.
      throw new UnrecoverableError(`registry ${registry.name} is not marked Deleting; refusing to purge it`);
    }
    const log = this.logger.child({ registryId, registryName: registry.name });
    log.info('registry purge: started');
    const { batchSize } = this.settings;

    await this.repeat(context, 'manifest references', () => this.repository.deleteManifestReferences(registryId, batchSize));
    deleted.manifests = await this.repeat(context, 'manifests', () => this.repository.deleteManifests(registryId, batchSize));

    deleted.blobs = await this.repeat(context, 'blobs', async () => {
      const blobs = await this.repository.listBlobs(registryId, batchSize);
      if (blobs.length === 0) return 0;
      await this.deleteObjects(blobs.map((blob) => blob.storageKey));
      deleted.objects += blobs.length;
      return this.repository.deleteBlobs(registryId, blobs.map((blob) => blob.id));
    });
    deleted.uploads = await this.repeat(context, 'uploads', async () => {
      const uploads = await this.repository.listUploads(registryId, batchSize);
      if (uploads.length === 0) return 0;
      await this.deleteObjects(uploads.map((upload) => upload.storageKey));
      deleted.objects += uploads.length;
      return this.repository.deleteUploads(registryId, uploads.map((upload) => upload.id));
    });
    deleted.repositories = await this.repeat(context, 'repositories', () => this.repository.deleteRepositories(registryId, batchSize));
    await this.repeat(context, 'webhook events', () => this.repository.deleteWebhookEvents(registryId, batchSize));
    deleted.objects += await this.sweepPrefix(registryId, context);

    await this.repository.deleteRegistry(registryId);
    deleted.objects += await this.sweepPrefix(registryId, context);
    log.info({ deleted }, 'registry purge: done, name released');
    return { registryId, alreadyPurged: false, deleted };
  }

  /** Runs `step` until it deletes nothing; returns the total it deleted. */
  private async repeat(context: JobContext, what: string, step: () => Promise<number>): Promise<number> {
    let total = 0;
    for (;;) {
      await this.checkpoint(context);
      const n = await step();
      total += n;
      if (n === 0) return total;
      await context.job.updateProgress({ step: what, deleted: total }).catch(() => undefined);
      if (this.settings.pauseMs > 0) await sleep(this.settings.pauseMs);
    }
  }

  /** Deletes everything under the registry's prefix; returns how many objects. */
  private async sweepPrefix(registryId: string, context: JobContext): Promise<number> {
    let total = 0;
    const seen = new Set<string>();
    for (;;) {
      await this.checkpoint(context);
      const keys: string[] = [];
      for await (const object of this.store.list(registryPrefix(registryId))) {
        // A driver that kept listing a deleted key would make this loop forever.
        if (seen.has(object.key)) throw new Error(`storage still lists ${object.key} after deleting it`);
        keys.push(object.key);
        if (keys.length >= this.settings.batchSize) break;
      }
      if (keys.length === 0) return total;
      for (const key of keys) seen.add(key);
      await this.deleteObjects(keys);
      total += keys.length;
      if (this.settings.pauseMs > 0) await sleep(this.settings.pauseMs);
    }
  }

  private async deleteObjects(keys: string[]): Promise<void> {
    await forEachLimit(keys, this.settings.storageConcurrency ?? 8, (key) => this.store.delete(key));
  }

  /** A safe point: a stopping worker hands the job back here. */
  private async checkpoint(context: JobContext): Promise<void> {
    if (context.shouldYield()) await context.release();
  }
}
