import { Readable } from 'node:stream';
import { digestOf, MediaType } from '@berth/oci';
import { errorCode, type RegistryClient } from './support/client';
import { startHarness, type Harness } from './support/harness';
import { descriptor, imageConfig, json, ociManifest, pushBlob, pushImage, pushManifest, testBlob } from './support/oci';
import { seedRegistry, type SeededRegistry } from './support/seed';

describe('manifests, tags, referrers and catalog', () => {
  let h: Harness;
  let reg: SeededRegistry;
  let c: RegistryClient;

  beforeAll(async () => {
    h = await startHarness();
    reg = await seedRegistry(h.db, h.config, { name: 'manireg' });
    c = h.client('manireg', { basic: reg.admin });
  });

  afterAll(async () => {
    await h?.close();
  });

  const usage = async () => (await h.db.registry.findUniqueOrThrow({ where: { id: reg.id } })).storageUsedBytes;
  const events = (type: string) => h.db.outboxEvent.findMany({ where: { registryId: reg.id, type }, orderBy: { id: 'asc' } });

  describe('push and pull', () => {
    it('pushes by tag and pulls by tag and by digest (multi-level name)', async () => {
      const config = imageConfig('arm64', 'linux');
      const layers = [testBlob(), testBlob()];
      for (const blob of [config, ...layers]) await pushBlob(c, 'team/app/web', blob);
      const manifest = ociManifest(config, layers, { annotations: { 'org.example': 'yes' } });
      const digest = digestOf(manifest);
      const put = await pushManifest(c, 'team/app/web', 'v1', manifest);
      expect(put.status).toBe(201);
      expect(put.header('location')).toBe(`/v2/team/app/web/manifests/${digest}`);
      expect(put.header('docker-content-digest')).toBe(digest);
      expect(put.header('oci-subject')).toBeUndefined();

      for (const reference of ['v1', digest]) {
        const get = await c.get(`/v2/team/app/web/manifests/${reference}`, { headers: { accept: MediaType.OciManifest } });
        expect(get.status).toBe(200);
        expect(get.body.equals(manifest)).toBe(true);
        expect(get.header('content-type')).toBe(MediaType.OciManifest);
        expect(get.header('docker-content-digest')).toBe(digest);
        const head = await c.head(`/v2/team/app/web/manifests/${reference}`);
        expect(head.status).toBe(200);
        expect(head.header('content-length')).toBe(String(manifest.length));
        expect(head.header('docker-content-digest')).toBe(digest);
        expect(head.body.length).toBe(0);
      }
      const row = await h.db.manifest.findFirstOrThrow({ where: { registryId: reg.id, digest } });
      expect(row).toMatchObject({ architecture: 'arm64', os: 'linux', configDigest: config.digest, configMediaType: MediaType.OciImageConfig });

      const [event] = (await events('image.push')).filter((e: any) => e.payload.digest === digest);
      expect(event!.payload).toMatchObject({
        registryId: reg.id,
        registryName: 'manireg',
        repository: 'team/app/web',
        tag: 'v1',
        digest,
        mediaType: MediaType.OciManifest,
        size: manifest.length,
        request: { host: 'manireg.berth.test', method: 'PUT' },
      });
    });

    it('serves the stored media type whatever the Accept list says', async () => {
      const image = await pushImage(c, 'accept/app', 'v1');
      const res = await c.get(`/v2/accept/app/manifests/v1`, { headers: { accept: MediaType.DockerManifest } });
      expect(res.status).toBe(200);
      expect(res.header('content-type')).toBe(MediaType.OciManifest);
      expect(res.header('docker-content-digest')).toBe(image.digest);
    });

    it('accepts a push by digest only when the digest matches the body', async () => {
      const config = imageConfig();
      await pushBlob(c, 'bydigest/app', config);
      const manifest = ociManifest(config, []);
      const digest = digestOf(manifest);
      expect((await pushManifest(c, 'bydigest/app', digest, manifest)).status).toBe(201);
      const wrong = await pushManifest(c, 'bydigest/app', digestOf('other'), manifest);
      expect(wrong.status).toBe(400);
      expect(errorCode(wrong)).toBe('DIGEST_INVALID');
      expect((await c.get(`/v2/bydigest/app/manifests/${digest}`)).status).toBe(200);
      // Never tagged: not marked untagged either.
      expect((await h.db.manifest.findFirstOrThrow({ where: { registryId: reg.id, digest } })).untaggedAt).toBeNull();
    });

    it('pushes Docker schema 2 manifests and manifest lists, and OCI indexes with their children', async () => {
      const children: string[] = [];
      for (const arch of ['amd64', 'arm64']) {
        const config = imageConfig(arch);
        const layer = testBlob();
        await pushBlob(c, 'multi/app', config);
        await pushBlob(c, 'multi/app', layer);
        const manifest = json({
          schemaVersion: 2,
          mediaType: MediaType.DockerManifest,
          config: descriptor(config, MediaType.DockerImageConfig),
          layers: [descriptor(layer, 'application/vnd.docker.image.rootfs.diff.tar.gzip')],
        });
        const digest = digestOf(manifest);
        expect((await pushManifest(c, 'multi/app', digest, manifest, MediaType.DockerManifest)).status).toBe(201);
        children.push(digest);
      }
      const platforms = [{ architecture: 'amd64', os: 'linux' }, { architecture: 'arm64', os: 'linux' }];
      for (const mediaType of [MediaType.DockerManifestList, MediaType.OciIndex]) {
        const index = json({
          schemaVersion: 2,
          mediaType,
          manifests: children.map((digest, i) => ({ mediaType: MediaType.DockerManifest, digest, size: 1, platform: platforms[i] })),
        });
        // Sizes of child descriptors are not checked against blobs (children are manifests).
        const put = await pushManifest(c, 'multi/app', mediaType === MediaType.OciIndex ? 'oci' : 'list', index, mediaType);
        expect(put.status).toBe(201);
        const get = await c.get(`/v2/multi/app/manifests/${mediaType === MediaType.OciIndex ? 'oci' : 'list'}`);
        expect(get.header('content-type')).toBe(mediaType);
      }
      const missing = json({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [{ mediaType: MediaType.OciManifest, digest: digestOf('nope'), size: 4 }] });
      const res = await pushManifest(c, 'multi/app', 'broken', missing, MediaType.OciIndex);
      expect(res.status).toBe(400);
      expect(errorCode(res)).toBe('MANIFEST_BLOB_UNKNOWN');
      // A child of an index cannot be deleted before the index.
      const del = await c.delete(`/v2/multi/app/manifests/${children[0]}`);
      expect(del.status).toBe(409);
      expect(errorCode(del)).toBe('DENIED');
    });

    it('counts a manifest in storage usage once per registry', async () => {
      const config = imageConfig();
      await pushBlob(c, 'usage/one', config);
      await pushBlob(c, 'usage/two', config);
      const manifest = ociManifest(config, []);
      const before = await usage();
      await pushManifest(c, 'usage/one', 'a', manifest);
      await pushManifest(c, 'usage/one', 'b', manifest);
      await pushManifest(c, 'usage/two', 'a', manifest);
      expect((await usage()) - before).toBe(BigInt(manifest.length));
      await c.delete(`/v2/usage/one/manifests/${digestOf(manifest)}`);
      expect((await usage()) - before).toBe(BigInt(manifest.length));
      await c.delete(`/v2/usage/two/manifests/${digestOf(manifest)}`);
      expect(await usage()).toBe(before);
    });
  });

  describe('invalid pushes', () => {
    let config: ReturnType<typeof imageConfig>;

    beforeAll(async () => {
      config = imageConfig();
      await pushBlob(c, 'bad/app', config);
    });

    it('refuses manifests that reference blobs the repository does not have', async () => {
      const layer = testBlob();
      await pushBlob(c, 'elsewhere/app', layer);
      const res = await pushManifest(c, 'bad/app', 'v1', ociManifest(config, [layer]));
      expect(res.status).toBe(400);
      expect(errorCode(res)).toBe('MANIFEST_BLOB_UNKNOWN');
      expect(res.json().errors[0].detail).toEqual({ digest: layer.digest });
      const noRepo = await pushManifest(c, 'nothing/here', 'v1', ociManifest(config, []));
      expect(noRepo.status).toBe(400);
      expect(errorCode(noRepo)).toBe('MANIFEST_BLOB_UNKNOWN');
      // The refused write leaves no repository behind (it was created in the rolled-back transaction).
      const catalog = await c.get('/v2/_catalog?n=1000');
      expect(catalog.status).toBe(200);
      expect(catalog.json().repositories).not.toContain('nothing/here');
    });

    it('refuses malformed JSON, schema 1, a mismatched media type and wrong descriptor sizes', async () => {
      const cases: Array<[Buffer | string, string]> = [
        ['{not json', MediaType.OciManifest],
        ['', MediaType.OciManifest],
        [json({ schemaVersion: 1, name: 'bad/app', tag: 'v1', fsLayers: [] }), 'application/vnd.docker.distribution.manifest.v1+prettyjws'],
        [ociManifest(config, []), MediaType.DockerManifest],
        [json({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: { ...descriptor(config, MediaType.OciImageConfig), size: config.size + 1 }, layers: [] }), MediaType.OciManifest],
        [json({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: 'x/y', digest: 'sha256:zz', size: 1 }, layers: [] }), MediaType.OciManifest],
      ];
      for (const [body, contentType] of cases) {
        const res = await c.put('/v2/bad/app/manifests/v1', { body, headers: { 'content-type': contentType } });
        expect(res.status).toBe(400);
        expect(errorCode(res)).toBe('MANIFEST_INVALID');
      }
    });

    it('refuses invalid references', async () => {
      const tag = await c.put('/v2/bad/app/manifests/-bad', { body: ociManifest(config, []) });
      expect(tag.status).toBe(400);
      expect(errorCode(tag)).toBe('TAG_INVALID');
      const digest = await c.put('/v2/bad/app/manifests/sha256:1234', { body: ociManifest(config, []) });
      expect(digest.status).toBe(400);
      expect(errorCode(digest)).toBe('DIGEST_INVALID');
      expect((await c.get(`/v2/bad/app/manifests/${'x'.repeat(129)}`)).status).toBe(400);
    });

    it('refuses manifests over the SKU size limit with 413, with and without Content-Length', async () => {
      await h.db.sku.update({ where: { name: 'Standard' }, data: { maxManifestBytes: 2048 } });
      try {
        const big = ociManifest(config, [], { annotations: { pad: 'x'.repeat(3000) } });
        const res = await pushManifest(c, 'bad/app', 'big', big);
        expect(res.status).toBe(413);
        expect(errorCode(res)).toBe('MANIFEST_INVALID');
        const chunked = await c.put('/v2/bad/app/manifests/big', {
          body: Readable.from([big.subarray(0, 1000), big.subarray(1000)]),
          headers: { 'content-type': MediaType.OciManifest },
        });
        expect(chunked.status).toBe(413);
        expect((await c.get('/v2/bad/app/manifests/big')).status).toBe(404);
      } finally {
        await h.db.sku.update({ where: { name: 'Standard' }, data: { maxManifestBytes: 4194304 } });
      }
    });

    it('answers unknown manifests with MANIFEST_UNKNOWN', async () => {
      const res = await c.get('/v2/bad/app/manifests/nosuchtag');
      expect(res.status).toBe(404);
      expect(errorCode(res)).toBe('MANIFEST_UNKNOWN');
      expect((await c.head(`/v2/bad/app/manifests/${digestOf('none')}`)).status).toBe(404);
      expect((await c.get('/v2/no/such/repo/manifests/v1')).status).toBe(404);
    });
  });

  describe('artifacts and referrers', () => {
    let subject: Awaited<ReturnType<typeof pushImage>>;
    const sbomType = 'application/vnd.example.sbom.v1';
    const sigType = 'application/vnd.example.signature.v1';

    beforeAll(async () => {
      subject = await pushImage(c, 'ref/app', 'v1');
    });

    async function pushArtifact(artifactType: string | undefined, subjectDigest: string, annotations?: Record<string, string>) {
      const empty = testBlob('{}');
      const layer = testBlob();
      await pushBlob(c, 'ref/app', empty);
      await pushBlob(c, 'ref/app', layer);
      const manifest = json({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        ...(artifactType ? { artifactType } : {}),
        config: descriptor(empty, artifactType ? MediaType.OciEmpty : 'application/vnd.example.config.v1+json'),
        layers: [descriptor(layer, 'application/octet-stream')],
        subject: { mediaType: MediaType.OciManifest, digest: subjectDigest, size: 123 },
        ...(annotations ? { annotations } : {}),
      });
      const res = await pushManifest(c, 'ref/app', digestOf(manifest), manifest);
      return { res, digest: digestOf(manifest), size: manifest.length };
    }

    it('accepts artifacts with a subject and answers OCI-Subject', async () => {
      const { res } = await pushArtifact(sbomType, subject.digest, { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' });
      expect(res.status).toBe(201);
      expect(res.header('oci-subject')).toBe(subject.digest);
    });

    it('accepts a subject that does not exist (yet)', async () => {
      const { res } = await pushArtifact(sbomType, digestOf('future subject'));
      expect(res.status).toBe(201);
    });

    it('lists referrers as an image index, filtered by artifactType on request', async () => {
      const sig = await pushArtifact(sigType, subject.digest);
      const legacy = await pushArtifact(undefined, subject.digest);
      const res = await c.get(`/v2/ref/app/referrers/${subject.digest}`);
      expect(res.status).toBe(200);
      expect(res.header('content-type')).toBe(MediaType.OciIndex);
      expect(res.header('oci-filters-applied')).toBeUndefined();
      const index = res.json();
      expect(index).toMatchObject({ schemaVersion: 2, mediaType: MediaType.OciIndex });
      expect(index.manifests).toHaveLength(3);
      expect(index.manifests[0]).toEqual(
        expect.objectContaining({ mediaType: MediaType.OciManifest, artifactType: sbomType, annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' } }),
      );
      expect(index.manifests[1]).toEqual({ mediaType: MediaType.OciManifest, digest: sig.digest, size: sig.size, artifactType: sigType });
      // Without artifactType, the config media type stands in.
      expect(index.manifests[2]).toMatchObject({ digest: legacy.digest, artifactType: 'application/vnd.example.config.v1+json' });

      const filtered = await c.get(`/v2/ref/app/referrers/${subject.digest}?artifactType=${encodeURIComponent(sigType)}`);
      expect(filtered.header('oci-filters-applied')).toBe('artifactType');
      expect(filtered.json().manifests.map((m: any) => m.digest)).toEqual([sig.digest]);
    });

    it('answers an empty index (never 404) when nothing refers to a digest, and 400 for a bad digest', async () => {
      const res = await c.get(`/v2/ref/app/referrers/${digestOf('lonely')}`);
      expect(res.status).toBe(200);
      expect(res.json()).toEqual({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] });
      const bad = await c.get('/v2/ref/app/referrers/sha256:nope');
      expect(bad.status).toBe(400);
      expect(errorCode(bad)).toBe('DIGEST_INVALID');
    });
  });

  describe('tags and catalog', () => {
    let digest: string;

    beforeAll(async () => {
      const image = await pushImage(c, 'tags/app', 'a');
      digest = image.digest;
      for (const tag of ['b', 'c', 'd', 'e']) expect((await pushManifest(c, 'tags/app', tag, image.manifest)).status).toBe(201);
    });

    it('lists tags in order, paginated with n/last and a Link header', async () => {
      const all = await c.get('/v2/tags/app/tags/list');
      expect(all.status).toBe(200);
      expect(all.json()).toEqual({ name: 'tags/app', tags: ['a', 'b', 'c', 'd', 'e'] });
      expect(all.header('link')).toBeUndefined();
      const first = await c.get('/v2/tags/app/tags/list?n=2');
      expect(first.json().tags).toEqual(['a', 'b']);
      expect(first.header('link')).toBe('</v2/tags/app/tags/list?n=2&last=b>; rel="next"');
      const second = await c.get('/v2/tags/app/tags/list?n=2&last=b');
      expect(second.json().tags).toEqual(['c', 'd']);
      const last = await c.get('/v2/tags/app/tags/list?n=2&last=d');
      expect(last.json().tags).toEqual(['e']);
      expect(last.header('link')).toBeUndefined();
      expect((await c.get('/v2/tags/app/tags/list?n=0')).json().tags).toEqual([]);
    });

    it('validates n, and answers NAME_UNKNOWN for a missing repository', async () => {
      for (const n of ['-1', 'x', '1.5']) {
        const res = await c.get(`/v2/tags/app/tags/list?n=${n}`);
        expect(res.status).toBe(400);
        expect(errorCode(res)).toBe('PAGINATION_NUMBER_INVALID');
      }
      const res = await c.get('/v2/no/such/tags/list');
      expect(res.status).toBe(404);
      expect(errorCode(res)).toBe('NAME_UNKNOWN');
    });

    it('hides tags and repositories with listEnabled=false', async () => {
      const repo = await h.db.repository.findFirstOrThrow({ where: { registryId: reg.id, name: 'tags/app' } });
      await h.db.tag.update({ where: { repositoryId_name: { repositoryId: repo.id, name: 'c' } }, data: { listEnabled: false } });
      expect((await c.get('/v2/tags/app/tags/list')).json().tags).toEqual(['a', 'b', 'd', 'e']);
      await h.db.tag.update({ where: { repositoryId_name: { repositoryId: repo.id, name: 'c' } }, data: { listEnabled: true } });

      await h.db.repository.update({ where: { id: repo.id }, data: { listEnabled: false } });
      const catalog = await c.get('/v2/_catalog?n=1000');
      expect(catalog.json().repositories).not.toContain('tags/app');
      await h.db.repository.update({ where: { id: repo.id }, data: { listEnabled: true } });
      expect((await c.get('/v2/_catalog?n=1000')).json().repositories).toContain('tags/app');
    });

    it('lists the catalog in order with n/last pagination, only repositories with manifests', async () => {
      await pushBlob(c, 'only/blobs', testBlob());
      const all = (await c.get('/v2/_catalog?n=1000')).json().repositories as string[];
      expect(all).toEqual([...all].sort());
      expect(all).toContain('team/app/web');
      expect(all).not.toContain('only/blobs');
      const first = await c.get('/v2/_catalog?n=2');
      expect(first.json().repositories).toEqual(all.slice(0, 2));
      expect(first.header('link')).toBe(`</v2/_catalog?n=2&last=${encodeURIComponent(all[1]!)}>; rel="next"`);
      const next = await c.get(`/v2/_catalog?n=2&last=${encodeURIComponent(all[1]!)}`);
      expect(next.json().repositories).toEqual(all.slice(2, 4));
    });

    it('pages through 10,000 tags from the index', async () => {
      const image = await pushImage(c, 'many/app', 't00000', 0);
      const repo = await h.db.repository.findFirstOrThrow({ where: { registryId: reg.id, name: 'many/app' } });
      const manifest = await h.db.manifest.findFirstOrThrow({ where: { repositoryId: repo.id, digest: image.digest } });
      await h.db.$executeRaw`
        INSERT INTO "Tag" ("repositoryId", "name", "manifestId", "updatedAt")
        SELECT ${repo.id}::uuid, 't' || lpad(i::text, 5, '0'), ${manifest.id}, now() FROM generate_series(1, 9999) AS i`;
      const started = Date.now();
      const first = await c.get('/v2/many/app/tags/list?n=100');
      const elapsed = Date.now() - started;
      expect(first.json().tags).toHaveLength(100);
      expect(first.json().tags[99]).toBe('t00099');
      expect(first.header('link')).toBe('</v2/many/app/tags/list?n=100&last=t00099>; rel="next"');
      const deep = await c.get('/v2/many/app/tags/list?n=3&last=t09997');
      expect(deep.json().tags).toEqual(['t09998', 't09999']);
      expect(elapsed).toBeLessThan(1000);
      expect((await c.get('/v2/many/app/tags/list')).json().tags).toHaveLength(10000);
      const big = await c.get('/v2/many/app/tags/list?n=5000');
      expect(big.json().tags).toHaveLength(1000);
      expect(big.header('link')).toContain('n=1000&last=t00999');
    });

    it('handles concurrent pushes of different manifests to one tag', async () => {
      const config = imageConfig();
      await pushBlob(c, 'race/tag', config);
      const manifests = Array.from({ length: 5 }, (_, i) => ociManifest(config, [], { annotations: { n: String(i) } }));
      const results = await Promise.all(manifests.map((manifest) => pushManifest(c, 'race/tag', 'latest', manifest)));
      expect(results.map((res) => res.status)).toEqual([201, 201, 201, 201, 201]);
      const current = (await c.head('/v2/race/tag/manifests/latest')).header('docker-content-digest');
      expect(manifests.map((manifest) => digestOf(manifest))).toContain(current);
      const repo = await h.db.repository.findFirstOrThrow({ where: { registryId: reg.id, name: 'race/tag' } });
      expect(await h.db.tag.count({ where: { repositoryId: repo.id } })).toBe(1);
      // Every manifest but the tagged one lost the tag at some point.
      expect(await h.db.manifest.count({ where: { repositoryId: repo.id, untaggedAt: null } })).toBe(1);
    });

    it('moves a tag and marks the manifest it left untagged', async () => {
      const other = await pushImage(c, 'tags/app', 'moving');
      const newer = await pushImage(c, 'tags/app', 'moving');
      expect((await c.get('/v2/tags/app/manifests/moving')).header('docker-content-digest')).toBe(newer.digest);
      const left = await h.db.manifest.findFirstOrThrow({ where: { registryId: reg.id, digest: other.digest } });
      expect(left.untaggedAt).not.toBeNull();
      await pushManifest(c, 'tags/app', 'again', other.manifest);
      expect((await h.db.manifest.findFirstOrThrow({ where: { id: left.id } })).untaggedAt).toBeNull();
      expect(digest).toEqual(expect.any(String));
    });
  });

  describe('deletes and locks', () => {
    it('DELETE by tag removes only the tag, writes no event, and marks the manifest untagged', async () => {
      const image = await pushImage(c, 'del/tag', 'v1');
      const before = (await events('image.delete')).length;
      const res = await c.delete('/v2/del/tag/manifests/v1');
      expect(res.status).toBe(202);
      expect((await c.get('/v2/del/tag/manifests/v1')).status).toBe(404);
      expect((await c.get(`/v2/del/tag/manifests/${image.digest}`)).status).toBe(200);
      expect((await h.db.manifest.findFirstOrThrow({ where: { registryId: reg.id, digest: image.digest } })).untaggedAt).not.toBeNull();
      expect((await events('image.delete')).length).toBe(before);
      expect((await c.delete('/v2/del/tag/manifests/v1')).status).toBe(404);
    });

    it('DELETE by digest removes the manifest and its tags and writes image.delete', async () => {
      const image = await pushImage(c, 'del/digest', 'v1');
      await pushManifest(c, 'del/digest', 'v2', image.manifest);
      const res = await c.delete(`/v2/del/digest/manifests/${image.digest}`);
      expect(res.status).toBe(202);
      for (const ref of ['v1', 'v2', image.digest]) expect((await c.get(`/v2/del/digest/manifests/${ref}`)).status).toBe(404);
      expect((await c.get('/v2/del/digest/tags/list')).json().tags).toEqual([]);
      const deleted = (await events('image.delete')).find((e: any) => e.payload.digest === image.digest);
      expect(deleted!.payload).toMatchObject({ repository: 'del/digest', mediaType: MediaType.OciManifest, request: { method: 'DELETE' } });
      const again = await c.delete(`/v2/del/digest/manifests/${image.digest}`);
      expect(again.status).toBe(404);
      expect(errorCode(again)).toBe('MANIFEST_UNKNOWN');
    });

    it('enforces writeEnabled=false on tags and repositories', async () => {
      const image = await pushImage(c, 'lock/write', 'v1');
      const repo = await h.db.repository.findFirstOrThrow({ where: { registryId: reg.id, name: 'lock/write' } });
      await h.db.tag.update({ where: { repositoryId_name: { repositoryId: repo.id, name: 'v1' } }, data: { writeEnabled: false } });
      const config = imageConfig();
      await pushBlob(c, 'lock/write', config);
      const res = await pushManifest(c, 'lock/write', 'v1', ociManifest(config, []));
      expect(res.status).toBe(405);
      expect(errorCode(res)).toBe('DENIED');
      expect(res.json().errors[0].message).toContain('writeEnabled=false');
      expect((await c.get('/v2/lock/write/manifests/v1')).header('docker-content-digest')).toBe(image.digest);
      // Re-pushing the same content to the locked tag changes nothing and is accepted.
      expect((await pushManifest(c, 'lock/write', 'v1', image.manifest)).status).toBe(201);

      // A manifest with writeEnabled=false keeps its tags where they are.
      await h.db.tag.update({ where: { repositoryId_name: { repositoryId: repo.id, name: 'v1' } }, data: { writeEnabled: true } });
      await h.db.manifest.updateMany({ where: { repositoryId: repo.id, digest: image.digest }, data: { writeEnabled: false } });
      expect((await pushManifest(c, 'lock/write', 'v1', ociManifest(config, []))).status).toBe(405);
      await h.db.manifest.updateMany({ where: { repositoryId: repo.id, digest: image.digest }, data: { writeEnabled: true } });
      expect((await pushManifest(c, 'lock/write', 'v1', ociManifest(config, []))).status).toBe(201);

      await h.db.repository.update({ where: { id: repo.id }, data: { writeEnabled: false } });
      expect((await pushManifest(c, 'lock/write', 'v2', image.manifest)).status).toBe(405);
      const upload = await c.post('/v2/lock/write/blobs/uploads/');
      expect(upload.status).toBe(405);
      expect(errorCode(upload)).toBe('DENIED');
    });

    it('enforces deleteEnabled=false on tags, manifests and repositories', async () => {
      const image = await pushImage(c, 'lock/delete', 'v1');
      const repo = await h.db.repository.findFirstOrThrow({ where: { registryId: reg.id, name: 'lock/delete' } });
      await h.db.tag.update({ where: { repositoryId_name: { repositoryId: repo.id, name: 'v1' } }, data: { deleteEnabled: false } });
      for (const ref of ['v1', image.digest]) {
        const res = await c.delete(`/v2/lock/delete/manifests/${ref}`);
        expect(res.status).toBe(405);
        expect(errorCode(res)).toBe('DENIED');
        expect(res.json().errors[0].message).toContain('deleteEnabled=false');
      }
      await h.db.tag.update({ where: { repositoryId_name: { repositoryId: repo.id, name: 'v1' } }, data: { deleteEnabled: true } });
      await h.db.manifest.updateMany({ where: { repositoryId: repo.id, digest: image.digest }, data: { deleteEnabled: false } });
      expect((await c.delete(`/v2/lock/delete/manifests/${image.digest}`)).status).toBe(405);
      await h.db.manifest.updateMany({ where: { repositoryId: repo.id }, data: { deleteEnabled: true } });
      await h.db.repository.update({ where: { id: repo.id }, data: { deleteEnabled: false } });
      expect((await c.delete(`/v2/lock/delete/manifests/${image.digest}`)).status).toBe(405);
      expect((await c.delete(`/v2/lock/delete/blobs/${image.config.digest}`)).status).toBe(405);
      await h.db.repository.update({ where: { id: repo.id }, data: { deleteEnabled: true } });
      expect((await c.delete(`/v2/lock/delete/manifests/${image.digest}`)).status).toBe(202);
    });

    it('enforces readEnabled=false', async () => {
      const image = await pushImage(c, 'lock/read', 'v1');
      const repo = await h.db.repository.findFirstOrThrow({ where: { registryId: reg.id, name: 'lock/read' } });
      await h.db.manifest.updateMany({ where: { repositoryId: repo.id }, data: { readEnabled: false } });
      const res = await c.get('/v2/lock/read/manifests/v1');
      expect(res.status).toBe(403);
      expect(errorCode(res)).toBe('DENIED');
      await h.db.manifest.updateMany({ where: { repositoryId: repo.id }, data: { readEnabled: true } });
      await h.db.repository.update({ where: { id: repo.id }, data: { readEnabled: false } });
      expect((await c.get(`/v2/lock/read/manifests/${image.digest}`)).status).toBe(403);
      expect((await c.get(`/v2/lock/read/blobs/${image.layers[0]!.digest}`)).status).toBe(403);
    });
  });

  describe('manifest parse budget', () => {
    let small: Harness;

    beforeAll(async () => {
      // A 1 KiB budget: two ordinary manifests at most are parsed at once, the rest queue.
      small = await startHarness({}, { manifestParseBudgetBytes: 1024 });
    });

    afterAll(async () => {
      await small?.close();
    });

    it('queues concurrent manifest PUTs beyond the budget and stores every one of them, also one larger than the budget', async () => {
      const seeded = await seedRegistry(small.db, small.config, { name: 'budgetreg' });
      const client = small.client('budgetreg', { basic: seeded.admin });
      const config = imageConfig();
      const layer = testBlob();
      for (const blob of [config, layer]) expect((await pushBlob(client, 'queued', blob)).status).toBe(201);
      const manifests = Array.from({ length: 12 }, (_, i) =>
        // The last one carries a 3 KiB annotation: bigger than the whole budget.
        ociManifest(config, [layer], { annotations: { n: String(i), pad: i === 11 ? 'x'.repeat(3072) : '' } }),
      );
      expect(manifests[0]!.length).toBeLessThan(1024);
      expect(manifests[11]!.length).toBeGreaterThan(1024);
      const puts = await Promise.all(manifests.map((m, i) => pushManifest(client, 'queued', `t${i}`, m)));
      expect(puts.map((r) => r.status)).toEqual(manifests.map(() => 201));
      for (const [i, m] of manifests.entries()) {
        const get = await client.get(`/v2/queued/manifests/t${i}`, { headers: { accept: MediaType.OciManifest } });
        expect(get.status).toBe(200);
        expect(get.body.equals(m)).toBe(true);
      }
    });
  });
});
