import type { ImageDeletePayload } from '@berth/events';
import type { BerthWorker } from '../src/worker';
import { createManifest, createRegistry, createRepository } from './support/fixtures';
import { createHarness, waitFor, type Harness } from './support/harness';

describe('retention (policy and purge rules)', () => {
  let h: Harness;
  let worker: BerthWorker;
  const daysAgo = (n: number) => new Date(Date.now() - n * 86400_000);

  beforeAll(async () => {
    h = await createHarness();
    // The relay stays off so the image.delete outbox rows can be inspected.
    worker = await h.startWorker({ relay: false });
  });

  afterAll(async () => {
    await h?.close();
  });

  const manifestIds = async (registryId: string) => (await h.db.manifest.findMany({ where: { registryId }, select: { id: true } })).map((m) => m.id).sort();
  const tagNames = async (repositoryId: string) => (await h.db.tag.findMany({ where: { repositoryId }, orderBy: { name: 'asc' } })).map((t) => t.name);

  it('deletes untagged manifests older than retentionDays, never locked, tagged, index-referenced or live referrers, with image.delete events', async () => {
    const registry = await createRegistry(h.db, { sku: 'Premium', retentionDays: 7 });
    const repo = await createRepository(h.db, registry.id, 'app');
    const locked = await createRepository(h.db, registry.id, 'locked', { deleteEnabled: false });
    const old = await createManifest(h.db, registry.id, repo.id, { untaggedAt: daysAgo(8) });
    const neverTaggedOld = await createManifest(h.db, registry.id, repo.id, { createdAt: daysAgo(30) });
    const recent = await createManifest(h.db, registry.id, repo.id, { untaggedAt: daysAgo(2) });
    const tagged = await createManifest(h.db, registry.id, repo.id, { tags: ['v1'], createdAt: daysAgo(30) });
    const manifestLocked = await createManifest(h.db, registry.id, repo.id, { untaggedAt: daysAgo(8), deleteEnabled: false });
    const writeLocked = await createManifest(h.db, registry.id, repo.id, { untaggedAt: daysAgo(8), writeEnabled: false });
    const inLockedRepo = await createManifest(h.db, registry.id, locked.id, { untaggedAt: daysAgo(8) });
    const child = await createManifest(h.db, registry.id, repo.id, { createdAt: daysAgo(30) });
    const index = await createManifest(h.db, registry.id, repo.id, { tags: ['multi'] });
    await h.db.manifestReference.create({ data: { parentId: index.id, childId: child.id } });
    const signature = await createManifest(h.db, registry.id, repo.id, { createdAt: daysAgo(30), subjectDigest: tagged.digest });

    const dry = await worker.services.retention.dryRun(registry.id);
    expect(dry!.plan.manifests.map((m) => m.digest).sort()).toEqual([old.digest, neverTaggedOld.digest].sort());
    expect(dry!.plan.manifests[0]!.reason).toEqual({ kind: 'policy', retentionDays: 7 });
    expect(dry!.deleted).toEqual({ tags: 0, manifests: 0 });
    expect(await h.db.manifest.count({ where: { registryId: registry.id } })).toBe(10); // dry run deleted nothing

    // Manifest bytes count once per digest in the registry's usage (the data plane's rule).
    await h.db.registry.update({ where: { id: registry.id }, data: { storageUsedBytes: 10_000n } });
    const run = await worker.services.retention.apply(registry.id);
    expect(run!.deleted).toEqual({ tags: 0, manifests: 2 });
    expect((await h.db.registry.findUniqueOrThrow({ where: { id: registry.id } })).storageUsedBytes).toBe(10_000n - BigInt(old.size + neverTaggedOld.size));
    expect(await manifestIds(registry.id)).toEqual(
      [recent, tagged, manifestLocked, writeLocked, inLockedRepo, child, index, signature].map((m) => m.id).sort(),
    );
    const events = await h.db.outboxEvent.findMany({ where: { registryId: registry.id, type: 'image.delete' } });
    expect(events.map((e) => (e.payload as unknown as ImageDeletePayload).digest).sort()).toEqual([old.digest, neverTaggedOld.digest].sort());
    expect(events[0]!.payload).toMatchObject({ registryName: registry.name, repository: 'app', request: { method: 'DELETE', host: registry.loginServer } });
  });

  it('keeps the usage counter when another repository still holds the deleted digest', async () => {
    const registry = await createRegistry(h.db, { sku: 'Premium', retentionDays: 1 });
    const a = await createRepository(h.db, registry.id, 'a');
    const b = await createRepository(h.db, registry.id, 'b');
    const payload = Buffer.from('{"schemaVersion":2,"shared":true}');
    const expired = await createManifest(h.db, registry.id, a.id, { payload, untaggedAt: daysAgo(3) });
    const kept = await createManifest(h.db, registry.id, b.id, { payload, tags: ['v1'] });
    expect(kept.digest).toBe(expired.digest);
    await h.db.registry.update({ where: { id: registry.id }, data: { storageUsedBytes: 500n } });
    expect((await worker.services.retention.apply(registry.id))!.deleted.manifests).toBe(1);
    expect(await manifestIds(registry.id)).toEqual([kept.id]);
    expect((await h.db.registry.findUniqueOrThrow({ where: { id: registry.id } })).storageUsedBytes).toBe(500n);
  });

  it('does nothing for SKUs without retention, and dry-runs through the job flag', async () => {
    const basic = await createRegistry(h.db, { sku: 'Basic', retentionDays: 0 });
    const repo = await createRepository(h.db, basic.id, 'app');
    await createManifest(h.db, basic.id, repo.id, { untaggedAt: daysAgo(100) });
    expect(await worker.services.retention.apply(basic.id)).toBeUndefined();
    expect(await h.db.manifest.count({ where: { registryId: basic.id } })).toBe(1);

    const premium = await createRegistry(h.db, { sku: 'Premium', retentionDays: 0 });
    const repo2 = await createRepository(h.db, premium.id, 'app');
    const m = await createManifest(h.db, premium.id, repo2.id, { untaggedAt: daysAgo(1) });
    await worker.producer.add('retention.apply', { registryId: premium.id, dryRun: true }, { jobId: `retention-dry-${premium.id}` });
    const queue = worker.producer.queue('berth-maintenance');
    const job = await waitFor(async () => {
      const found = await queue.getJob(`retention-dry-${premium.id}`);
      return (await found?.getState()) === 'completed' && found;
    }, 'the dry-run job');
    const fresh = await queue.getJob(job.id!);
    expect(fresh!.returnvalue.registries[0].plan.manifests).toEqual([
      { repository: 'app', digest: m.digest, mediaType: m.mediaType, reason: { kind: 'policy', retentionDays: 0 } },
    ]);
    expect(await h.db.manifest.count({ where: { registryId: premium.id } })).toBe(1);
  });

  it('applies purge rules: --filter regexes, --keep newest N, --ago, --untagged; locked tags are kept', async () => {
    const registry = await createRegistry(h.db, { sku: 'Premium' });
    const web = await createRepository(h.db, registry.id, 'team/web');
    const other = await createRepository(h.db, registry.id, 'other');
    const mk = async (repoId: string, tag: string, ageDays: number, extra: { deleteEnabled?: boolean } = {}) => {
      const manifest = await createManifest(h.db, registry.id, repoId, { createdAt: daysAgo(ageDays) });
      await h.db.tag.create({ data: { repositoryId: repoId, name: tag, manifestId: manifest.id, updatedAt: daysAgo(ageDays), ...extra } });
      return manifest;
    };
    const d1 = await mk(web.id, 'dev-1', 40);
    const d2 = await mk(web.id, 'dev-2', 30);
    const d3 = await mk(web.id, 'dev-3', 20, { deleteEnabled: false }); // locked tag
    const d4 = await mk(web.id, 'dev-4', 10);
    const d5 = await mk(web.id, 'dev-5', 1);
    const release = await mk(web.id, 'release-1', 90);
    const otherOld = await mk(other.id, 'dev-1', 90);
    const dangling = await createManifest(h.db, registry.id, web.id, { createdAt: daysAgo(40) });
    await h.db.retentionRule.create({
      data: { registryId: registry.id, name: 'dev-cleanup', repositoryPattern: 'team/.*', tagPattern: 'dev-.*', keepLatest: 2, olderThanSeconds: 15 * 86400, deleteUntagged: true },
    });
    await h.db.retentionRule.create({ data: { registryId: registry.id, name: 'broken', repositoryPattern: '(', tagPattern: '.*', keepLatest: 1 } });

    const dry = await worker.services.retention.dryRun(registry.id);
    // Newest two (dev-5, dev-4) kept; dev-3 locked; dev-2, dev-1 older than 15 days go.
    expect(dry!.plan.tags.map((t) => t.tag)).toEqual(['dev-1', 'dev-2']);
    expect(dry!.plan.tags[0]!.reason).toEqual({ kind: 'rule', rule: 'dev-cleanup' });
    expect(dry!.plan.manifests.map((m) => m.digest).sort()).toEqual([d1.digest, d2.digest, dangling.digest].sort());
    expect(dry!.plan.invalidRules).toEqual(['broken']);
    expect(await tagNames(web.id)).toHaveLength(6);

    const run = await worker.services.retention.apply(registry.id);
    expect(run!.deleted).toEqual({ tags: 2, manifests: 3 });
    expect(await tagNames(web.id)).toEqual(['dev-3', 'dev-4', 'dev-5', 'release-1']);
    expect(await tagNames(other.id)).toEqual(['dev-1']);
    expect(await manifestIds(registry.id)).toEqual([d3, d4, d5, release, otherOld].map((m) => m.id).sort());
  });

  it('skips a tag that moved after the plan was made', async () => {
    const registry = await createRegistry(h.db, { sku: 'Premium' });
    const repo = await createRepository(h.db, registry.id, 'app');
    const oldManifest = await createManifest(h.db, registry.id, repo.id, { createdAt: daysAgo(10) });
    await h.db.tag.create({ data: { repositoryId: repo.id, name: 'moving', manifestId: oldManifest.id, updatedAt: daysAgo(10) } });
    await h.db.retentionRule.create({ data: { registryId: registry.id, name: 'old', repositoryPattern: 'app', tagPattern: '.*', olderThanSeconds: 86400 } });
    const plan = await worker.services.retention.dryRun(registry.id);
    expect(plan!.plan.tags.map((t) => t.tag)).toEqual(['moving']);

    // A push moves the tag between planning and deleting: the delete's re-check sees it.
    const { RetentionRepository } = await import('../src/retention/retention.repository');
    const repository = new RetentionRepository(h.db);
    const [candidate] = await repository.findRuleTags(registry.id, (await repository.listRules(registry.id))[0]!, 10);
    const newManifest = await createManifest(h.db, registry.id, repo.id);
    await h.db.tag.update({ where: { repositoryId_name: { repositoryId: repo.id, name: 'moving' } }, data: { manifestId: newManifest.id } });
    expect(await repository.deleteTag(registry.id, candidate!)).toBe(false);
    expect(await tagNames(repo.id)).toEqual(['moving']);
  });
});
