import { digestOf, MediaType } from '@berth/oci';
import { waitFor } from '@berth/testing';
import { Client } from 'pg';
import type { RegistryClient } from './support/client';
import { startHarness, type Harness } from './support/harness';
import { pushImage } from './support/oci';
import { seedRegistry, type SeededRegistry } from './support/seed';

/**
 * The data plane answers manifest and blob lookups from memory; these tests
 * change the database the way another replica, the worker or the management
 * API would (not through this server) and check that the answers follow.
 */
describe('metadata cache', () => {
  let h: Harness;
  let reg: SeededRegistry;
  let c: RegistryClient;
  let sql: Client;
  const accept = { accept: MediaType.OciManifest };

  const manifestDigest = async (reference: string) => {
    const res = await c.get(`/v2/cache/app/manifests/${reference}`, { headers: accept });
    return res.status === 200 ? digestOf(res.body) : res.status;
  };

  beforeAll(async () => {
    h = await startHarness();
    reg = await seedRegistry(h.db, h.config, { name: 'cachereg' });
    c = h.client('cachereg', { basic: reg.admin });
    sql = new Client({ connectionString: h.config.databaseUrl });
    await sql.connect();
  });

  afterAll(async () => {
    await sql?.end();
    await h?.close();
  });

  it('serves repeated lookups from memory, and reads its own writes at once', async () => {
    const cache = h.current.app.metadataCache;
    await waitFor(async () => cache.active, 'the change listener to start');
    const first = await pushImage(c, 'cache/app', 'own');
    expect(await manifestDigest('own')).toBe(first.digest);
    const hits = cache.hits;
    expect(await manifestDigest('own')).toBe(first.digest);
    expect(cache.hits).toBe(hits + 1);
    const metrics = (await c.get('/metrics')).text();
    expect(metrics).toMatch(/berth_registry_metadata_cache_lookups_total\{outcome="hit"\} [1-9]/);
    expect(metrics).toContain('berth_registry_metadata_cache_active 1');
    // A push through this server moves the tag: the very next GET sees it.
    const second = await pushImage(c, 'cache/app', 'own');
    expect(await manifestDigest('own')).toBe(second.digest);
  });

  it('follows a tag moved by another writer, via the database notification', async () => {
    const a = await pushImage(c, 'cache/app', 'moved');
    const b = await pushImage(c, 'cache/app', 'other');
    expect(await manifestDigest('moved')).toBe(a.digest);
    expect(await manifestDigest('moved')).toBe(a.digest); // cached now
    await sql.query(
      `UPDATE "Tag" SET "manifestId" = (SELECT "id" FROM "Manifest" WHERE "digest" = $1 AND "registryId" = $2)
       WHERE "name" = 'moved' AND "repositoryId" = (SELECT "id" FROM "Repository" WHERE "registryId" = $2 AND "name" = 'cache/app')`,
      [b.digest, reg.id],
    );
    await waitFor(async () => (await manifestDigest('moved')) === b.digest, 'the moved tag to be served');
  });

  it('follows lock attributes and deletions made elsewhere', async () => {
    const image = await pushImage(c, 'cache/locked', 'v1');
    expect((await c.get(`/v2/cache/locked/manifests/v1`, { headers: accept })).status).toBe(200);
    await sql.query(`UPDATE "Repository" SET "readEnabled" = false WHERE "registryId" = $1 AND "name" = 'cache/locked'`, [reg.id]);
    await waitFor(async () => (await c.get(`/v2/cache/locked/manifests/v1`, { headers: accept })).status === 403, 'the read lock to apply');

    const layer = image.layers[0]!;
    const head = () => c.head(`/v2/cache/app/blobs/${layer.digest}`);
    const pushed = await pushImage(c, 'cache/app', 'gc');
    const blob = pushed.layers[0]!;
    expect((await c.head(`/v2/cache/app/blobs/${blob.digest}`)).status).toBe(200);
    expect((await c.head(`/v2/cache/app/blobs/${blob.digest}`)).status).toBe(200);
    // As garbage collection would (its manifest gone first, then the row).
    await sql.query(`DELETE FROM "Manifest" WHERE "digest" = $1 AND "registryId" = $2`, [pushed.digest, reg.id]);
    await sql.query(`DELETE FROM "Blob" WHERE "digest" = $1 AND "registryId" = $2`, [blob.digest, reg.id]);
    await waitFor(async () => (await c.head(`/v2/cache/app/blobs/${blob.digest}`)).status === 404, 'the deleted blob to be gone');
    expect((await head()).status).toBe(404); // never linked to cache/app
  });

  it('stops caching while it cannot hear changes, and starts again once it listens', async () => {
    const cache = h.current.app.metadataCache;
    const a = await pushImage(c, 'cache/app', 'deaf');
    const b = await pushImage(c, 'cache/app', 'deaf-other');
    expect(await manifestDigest('deaf')).toBe(a.digest);
    await sql.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'berth-registry-listen'`);
    await waitFor(async () => !cache.active, 'the cache to turn off');
    // No notification can arrive now, yet the change is seen at once: nothing is served from memory.
    await sql.query(
      `UPDATE "Tag" SET "manifestId" = (SELECT "id" FROM "Manifest" WHERE "digest" = $1 AND "registryId" = $2)
       WHERE "name" = 'deaf' AND "repositoryId" = (SELECT "id" FROM "Repository" WHERE "registryId" = $2 AND "name" = 'cache/app')`,
      [b.digest, reg.id],
    );
    expect(await manifestDigest('deaf')).toBe(b.digest);
    await waitFor(async () => cache.active, 'the listener to reconnect');
    const hits = cache.hits;
    await manifestDigest('deaf');
    expect(await manifestDigest('deaf')).toBe(b.digest);
    expect(cache.hits).toBeGreaterThan(hits);
  });
});

describe('metadata cache turned off (BERTH_METADATA_CACHE=false)', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ BERTH_METADATA_CACHE: 'false' });
  });

  afterAll(async () => {
    await h?.close();
  });

  it('never listens and reads every lookup from the database', async () => {
    const reg = await seedRegistry(h.db, h.config, { name: 'nocache' });
    const c = h.client('nocache', { basic: reg.admin });
    const image = await pushImage(c, 'plain/app', 'v1');
    for (let i = 0; i < 3; i++) expect((await c.get('/v2/plain/app/manifests/v1', { headers: { accept: MediaType.OciManifest } })).status).toBe(200);
    expect((await c.head(`/v2/plain/app/blobs/${image.layers[0]!.digest}`)).status).toBe(200);
    const cache = h.current.app.metadataCache;
    expect(cache.active).toBe(false);
    expect(cache.hits).toBe(0);
    expect(cache.size).toBe(0);
  });
});
