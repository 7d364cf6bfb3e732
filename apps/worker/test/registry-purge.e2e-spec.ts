import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { writeOutboxEvent } from '@berth/db';
import { JobProducer, outboxJobId, type RegistryDeletePayload } from '@berth/events';
import { blobKey, registryPrefix } from '@berth/storage';
import { createBlob, createManifest, createRegistry, createRepository, createWebhook, listKeys } from './support/fixtures';
import { createHarness, FAST, SHARED_REDIS_URL, waitFor, type Harness } from './support/harness';

const ROOT = path.resolve(__dirname, '..', '..', '..');

describe('registry purge (registry.delete)', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness();
  });

  afterAll(async () => {
    await h?.close();
  });

  /** A registry with some of everything: content, uploads, credentials, webhooks, rules, a stray object. */
  async function seed(blobCount: number, options: { deleting?: boolean } = {}) {
    const registry = await createRegistry(h.db, { deleting: options.deleting ?? true });
    const repo = await createRepository(h.db, registry.id, 'team/web');
    const blobs = [];
    for (let i = 0; i < blobCount; i++) blobs.push(await createBlob(h.db, h.store, registry.id, { repositoryId: repo.id }));
    const child = await createManifest(h.db, registry.id, repo.id, { blobIds: blobs.slice(0, 2).map((b) => b.id) });
    const index = await createManifest(h.db, registry.id, repo.id, { tags: ['latest'], mediaType: 'application/vnd.oci.image.index.v1+json' });
    await h.db.manifestReference.create({ data: { parentId: index.id, childId: child.id } });
    await createManifest(h.db, registry.id, repo.id, { blobIds: blobs.slice(1, 3).map((b) => b.id), tags: ['v1', 'v2'] });
    const uploadKey = blobKey(registry.id, randomUUID());
    await h.store.appendUpload(uploadKey, 0, Readable.from([Buffer.from('partial')]), []);
    await h.db.upload.create({ data: { registryId: registry.id, repositoryName: 'team/web', storageKey: uploadKey, expiresAt: new Date(Date.now() + 3600_000) } });
    const stray = `${registryPrefix(registry.id)}blobs/${randomUUID()}`;
    await h.store.appendUpload(stray, 0, Readable.from([Buffer.from('stray')]), []);
    const webhook = await createWebhook(h.db, h.config, registry.id, { uri: 'http://127.0.0.1:9/x' });
    await h.db.webhookEvent.create({ data: { webhookId: webhook.id, eventId: 'e', action: 'push', status: 'succeeded' } });
    await h.db.adminCredential.create({ data: { registryId: registry.id, name: 'password', encryptedValue: 'v1.x.y.z' } });
    const principal = await h.db.servicePrincipal.create({ data: { registryId: registry.id, clientId: randomUUID(), displayName: 'ci' } });
    await h.db.roleAssignment.create({ data: { principalId: principal.id, registryId: registry.id, role: 'AcrPush' } });
    await h.db.retentionRule.create({ data: { registryId: registry.id, name: 'r', repositoryPattern: '.*' } });
    return { registry, blobs };
  }

  async function requestDelete(registry: { id: string; name: string }) {
    const payload: RegistryDeletePayload = { registryId: registry.id, registryName: registry.name };
    return h.db.$transaction((tx) => writeOutboxEvent(tx, { registryId: registry.id, type: 'registry.delete', payload }));
  }

  async function expectNothingLeft(registryId: string) {
    expect(await h.db.registry.findUnique({ where: { id: registryId } })).toBeNull();
    const counts = await Promise.all([
      h.db.blob.count({ where: { registryId } }),
      h.db.manifest.count({ where: { registryId } }),
      h.db.repository.count({ where: { registryId } }),
      h.db.upload.count({ where: { registryId } }),
      h.db.webhook.count({ where: { registryId } }),
      h.db.servicePrincipal.count({ where: { registryId } }),
      h.db.adminCredential.count({ where: { registryId } }),
      h.db.retentionRule.count({ where: { registryId } }),
    ]);
    expect(counts).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(await listKeys(h.store, registryPrefix(registryId))).toEqual([]);
  }

  it('purges storage and metadata, frees the name, and leaves other registries alone', async () => {
    const worker = await h.startWorker();
    try {
      const { registry } = await seed(6);
      const bystander = await seed(3, { deleting: false });
      const bystanderKeys = await listKeys(h.store, registryPrefix(bystander.registry.id));
      await requestDelete(registry);

      await waitFor(async () => (await h.db.registry.findUnique({ where: { id: registry.id } })) === null, 'the registry row to go');
      await expectNothingLeft(registry.id);
      // The name (and login server) can be taken again at once.
      await expect(createRegistry(h.db, { name: registry.name })).resolves.toMatchObject({ name: registry.name });

      expect(await listKeys(h.store, registryPrefix(bystander.registry.id))).toEqual(bystanderKeys);
      expect(await h.db.blob.count({ where: { registryId: bystander.registry.id } })).toBe(3);
      expect(await h.db.manifest.count({ where: { registryId: bystander.registry.id } })).toBe(3);
    } finally {
      await worker.stop();
    }
  });

  it('refuses to purge a registry that is not marked Deleting', async () => {
    const worker = await h.startWorker();
    try {
      const { registry } = await seed(2, { deleting: false });
      const before = await listKeys(h.store, registryPrefix(registry.id));
      const outboxId = await requestDelete(registry);
      const queue = worker.producer.queue('berth-registry');
      await waitFor(async () => (await (await queue.getJob(outboxJobId(outboxId)))?.getState()) === 'failed', 'the purge to be refused');
      const job = await queue.getJob(outboxJobId(outboxId));
      expect(job!.failedReason).toMatch(/not marked Deleting/);
      expect(job!.attemptsMade).toBe(1); // refused for good, not retried
      expect(await h.db.registry.findUnique({ where: { id: registry.id } })).not.toBeNull();
      expect(await listKeys(h.store, registryPrefix(registry.id))).toEqual(before);
    } finally {
      await worker.stop();
    }
  });

  it('a graceful stop hands a purge back mid-way, and the next worker finishes it', async () => {
    const { registry } = await seed(40);
    const slow = await h.startWorker({ purgeBatchSize: 3, purgePauseMs: 100 });
    const outboxId = await requestDelete(registry);
    await waitFor(async () => {
      const left = await h.db.blob.count({ where: { registryId: registry.id } });
      return left > 0 && left < 40;
    }, 'the purge to be under way');
    const started = Date.now();
    await slow.stop();
    expect(Date.now() - started).toBeLessThan(3_000);
    // Released, not left locked "active" for a stalled check to find.
    const reader = new JobProducer({ redisUrl: SHARED_REDIS_URL, prefix: h.prefix });
    try {
      expect(['waiting', 'delayed']).toContain(await (await reader.queue('berth-registry').getJob(outboxJobId(outboxId)))?.getState());
    } finally {
      await reader.close();
    }
    expect(await h.db.registry.findUnique({ where: { id: registry.id } })).not.toBeNull();

    const next = await h.startWorker();
    try {
      await waitFor(async () => (await h.db.registry.findUnique({ where: { id: registry.id } })) === null, 'the purge to finish');
      await expectNothingLeft(registry.id);
      const job = await next.producer.queue('berth-registry').getJob(outboxJobId(outboxId));
      await waitFor(async () => (await job?.getState()) === 'completed', 'the job to complete');
    } finally {
      await next.stop();
    }
  });

  it('retries a purge that used up its attempts while the registry is still Deleting', async () => {
    const { registry } = await seed(3);
    let storageDown = true;
    const flaky = {
      ...h.store,
      driverName: h.store.driverName,
      list: (prefix: string) => h.store.list(prefix),
      delete: async (key: string) => {
        if (storageDown) throw new Error('storage unavailable');
        await h.store.delete(key);
      },
    } as typeof h.store;
    const worker = await h.startWorker({ blobStore: flaky, relay: false, purgeRecoveryAfterSeconds: 0 });
    try {
      await worker.producer.add('registry.purge', { registryId: registry.id, registryName: registry.name }, { jobId: `purge-test-${registry.id}`, attempts: 2, backoff: 50, removeOnFail: false });
      const queue = worker.producer.queue('berth-registry');
      await waitFor(async () => (await (await queue.getJob(`purge-test-${registry.id}`))?.getState()) === 'failed', 'the purge to fail');
      expect(await h.db.registry.findUnique({ where: { id: registry.id } })).not.toBeNull();

      // Storage is back: the recovery job puts the failed purge back in the queue, which finishes it.
      storageDown = false;
      expect(await worker.services.purgeRecovery.process({})).toEqual({ retried: 1 });
      await waitFor(async () => (await h.db.registry.findUnique({ where: { id: registry.id } })) === null, 'the retried purge');
      await expectNothingLeft(registry.id);
      expect(await worker.services.purgeRecovery.process({})).toEqual({ retried: 0 });
    } finally {
      await worker.stop();
    }
  });

  describe('fault: the worker is killed (SIGKILL) in the middle of a purge', () => {
    let child: ChildProcess | undefined;

    afterEach(() => {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });

    it('is finished by the next worker: storage holds nothing of the registry and the name is free', async () => {
      const { registry } = await seed(60);
      const keysBefore = await listKeys(h.store, registryPrefix(registry.id));
      expect(keysBefore.length).toBe(62); // 60 blobs, 1 upload, 1 stray

      const overrides = { ...FAST, queuePrefix: h.prefix, purgeBatchSize: 4, purgePauseMs: 120, lockDurationMs: 1_500 };
      child = spawn(process.execPath, ['-r', path.join(ROOT, 'scripts', 'register.js'), path.join(__dirname, 'support', 'worker-process.ts'), JSON.stringify({ env: h.env, overrides })], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const proc = child;
      await new Promise<void>((resolve, reject) => {
        proc.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve());
        proc.once('exit', (code) => reject(new Error(`worker process exited early (${code})`)));
      });

      await requestDelete(registry);
      await waitFor(async () => {
        const left = await h.db.blob.count({ where: { registryId: registry.id } });
        return left > 8 && left < 52;
      }, 'the purge to be half done', 30_000);
      proc.kill('SIGKILL');
      await new Promise((resolve) => proc.once('exit', resolve));

      // Mid-purge for real: the row, some blobs and some objects are still there.
      expect(await h.db.registry.findUnique({ where: { id: registry.id } })).not.toBeNull();
      const leftAfterKill = await h.db.blob.count({ where: { registryId: registry.id } });
      expect(leftAfterKill).toBeGreaterThan(0);
      expect((await listKeys(h.store, registryPrefix(registry.id))).length).toBeGreaterThan(0);

      // The job is stuck "active" under the dead worker's lock until the lock expires; the new worker's stalled check takes it over.
      const worker = await h.startWorker({ stalledIntervalMs: 300 });
      try {
        await waitFor(async () => (await h.db.registry.findUnique({ where: { id: registry.id } })) === null, 'the purge to be finished', 30_000);
        await expectNothingLeft(registry.id);
        await expect(createRegistry(h.db, { name: registry.name })).resolves.toMatchObject({ name: registry.name });
      } finally {
        await worker.stop();
      }
    }, 60_000);
  });
});
