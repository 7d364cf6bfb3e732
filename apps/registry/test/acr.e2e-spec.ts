import { digestOf, MediaType } from '@berth/oci';
import { errorCode, type RegistryClient, type TestResponse } from './support/client';
import { startHarness, type Harness } from './support/harness';
import { imageConfig, json, ociManifest, pushBlob, pushImage, pushManifest, testBlob } from './support/oci';
import { seedRegistry, seedServicePrincipal, type SeededRegistry } from './support/seed';

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const UNLOCKED = { deleteEnabled: true, writeEnabled: true, readEnabled: true, listEnabled: true };

function patch(client: RegistryClient, path: string, body: unknown): Promise<TestResponse> {
  return client.patch(path, { body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } });
}

describe('ACR extension API (/acr/v1)', () => {
  let h: Harness;
  let reg: SeededRegistry;
  let c: RegistryClient;

  beforeAll(async () => {
    h = await startHarness();
    reg = await seedRegistry(h.db, h.config, { name: 'acrreg' });
    c = h.client('acrreg', { basic: reg.admin });
  });

  afterAll(async () => {
    await h?.close();
  });

  const repositoryRow = (name: string) => h.db.repository.findFirstOrThrow({ where: { registryId: reg.id, name } });

  describe('catalog', () => {
    beforeAll(async () => {
      for (const name of ['cat/a', 'cat/b', 'cat/c', 'cat/d']) await pushImage(c, name, 'v1', 0);
      await pushBlob(c, 'cat/blobs-only', testBlob());
    });

    it('lists repositories with manifests by name, paginated with n/last and a Link header', async () => {
      const all = await c.get('/acr/v1/_catalog?n=1000');
      expect(all.status).toBe(200);
      expect(all.header('content-type')).toBe('application/json');
      const names = all.json().repositories as string[];
      expect(names).toEqual([...names].sort());
      expect(names).toEqual(expect.arrayContaining(['cat/a', 'cat/b', 'cat/c', 'cat/d']));
      expect(names).not.toContain('cat/blobs-only');
      expect(all.header('link')).toBeUndefined();

      const first = await c.get('/acr/v1/_catalog?n=2&last=cat/');
      expect(first.json()).toEqual({ repositories: ['cat/a', 'cat/b'] });
      expect(first.header('link')).toBe('</acr/v1/_catalog?last=cat%2Fb&n=2>; rel="next"');
      const next = await c.get(first.header('link')!.slice(1, first.header('link')!.indexOf('>')));
      expect(next.json().repositories).toEqual(['cat/c', 'cat/d']);
      expect((await c.get('/acr/v1/_catalog?n=0')).json()).toEqual({ repositories: [] });
    });

    it('hides a repository with listEnabled=false from /v2/_catalog and /acr/v1/_catalog', async () => {
      expect((await patch(c, '/acr/v1/cat/b', { listEnabled: false })).status).toBe(200);
      expect((await c.get('/acr/v1/_catalog?n=1000')).json().repositories).not.toContain('cat/b');
      expect((await c.get('/v2/_catalog?n=1000')).json().repositories).not.toContain('cat/b');
      // Hidden is not gone: its metadata and content stay reachable by name.
      expect((await c.get('/acr/v1/cat/b')).status).toBe(200);
      expect((await c.get('/v2/cat/b/manifests/v1')).status).toBe(200);
      await patch(c, '/acr/v1/cat/b', { listEnabled: true });
      expect((await c.get('/acr/v1/_catalog?n=1000')).json().repositories).toContain('cat/b');
    });

    it('validates n', async () => {
      for (const n of ['-1', 'x', '1.5']) {
        const res = await c.get(`/acr/v1/_catalog?n=${n}`);
        expect(res.status).toBe(400);
        expect(errorCode(res)).toBe('PAGINATION_NUMBER_INVALID');
      }
    });
  });

  describe('repositories', () => {
    let image: Awaited<ReturnType<typeof pushImage>>;

    beforeAll(async () => {
      image = await pushImage(c, 'team/app/web', 'v1');
      await pushManifest(c, 'team/app/web', 'v2', image.manifest);
    });

    it('answers ACR repository properties for a multi-level name', async () => {
      const res = await c.get('/acr/v1/team/app/web');
      expect(res.status).toBe(200);
      const body = res.json();
      expect(body).toEqual({
        registry: 'acrreg.berth.test',
        imageName: 'team/app/web',
        createdTime: expect.stringMatching(ISO_TIME),
        lastUpdateTime: expect.stringMatching(ISO_TIME),
        manifestCount: 1,
        tagCount: 2,
        changeableAttributes: UNLOCKED,
      });
      expect(Date.parse(body.lastUpdateTime)).toBeGreaterThanOrEqual(Date.parse(body.createdTime));
    });

    it('PATCH changes only the attributes named, in ACR form or wrapped', async () => {
      const res = await patch(c, '/acr/v1/team/app/web', { writeEnabled: false });
      expect(res.status).toBe(200);
      expect(res.json().changeableAttributes).toEqual({ ...UNLOCKED, writeEnabled: false });
      expect((await c.get('/acr/v1/team/app/web')).json().changeableAttributes).toEqual({ ...UNLOCKED, writeEnabled: false });
      const wrapped = await patch(c, '/acr/v1/team/app/web', { changeableAttributes: { writeEnabled: true, deleteEnabled: false } });
      expect(wrapped.json().changeableAttributes).toEqual({ ...UNLOCKED, deleteEnabled: false });
      const empty = await patch(c, '/acr/v1/team/app/web', {});
      expect(empty.status).toBe(200);
      expect(empty.json().changeableAttributes).toEqual({ ...UNLOCKED, deleteEnabled: false });
      await patch(c, '/acr/v1/team/app/web', { deleteEnabled: true });
      expect((await repositoryRow('team/app/web')).deleteEnabled).toBe(true);
    });

    it('writeEnabled=false on the repository refuses pushes', async () => {
      await patch(c, '/acr/v1/team/app/web', { writeEnabled: false });
      const config = imageConfig();
      const upload = await c.post('/v2/team/app/web/blobs/uploads/');
      expect(upload.status).toBe(405);
      expect(errorCode(upload)).toBe('DENIED');
      const res = await pushManifest(c, 'team/app/web', 'v3', ociManifest(config, []));
      expect([400, 405]).toContain(res.status);
      await patch(c, '/acr/v1/team/app/web', { writeEnabled: true });
      expect((await pushManifest(c, 'team/app/web', 'v3', image.manifest)).status).toBe(201);
    });

    it('readEnabled=false on the repository denies pulls but not metadata', async () => {
      expect((await patch(c, '/acr/v1/team/app/web', { readEnabled: false })).status).toBe(200);
      for (const path of ['/v2/team/app/web/manifests/v1', `/v2/team/app/web/manifests/${image.digest}`, `/v2/team/app/web/blobs/${image.layers[0]!.digest}`]) {
        const res = await c.get(path);
        expect(res.status).toBe(403);
        expect(errorCode(res)).toBe('DENIED');
      }
      expect((await c.get('/acr/v1/team/app/web')).json().changeableAttributes.readEnabled).toBe(false);
      expect((await c.get('/acr/v1/team/app/web/_tags/v1')).status).toBe(200);
      await patch(c, '/acr/v1/team/app/web', { readEnabled: true });
      expect((await c.get('/v2/team/app/web/manifests/v1')).status).toBe(200);
    });

    it('refuses bad PATCH bodies with 400 and changes nothing', async () => {
      const cases: Array<[unknown, string]> = [
        ['{not json', 'not valid JSON'],
        ['', 'not valid JSON'],
        [[true], 'JSON object'],
        ['null', 'JSON object'],
        [{ writeEnabled: 'false' }, 'must be a boolean'],
        [{ writeEnabled: 0 }, 'must be a boolean'],
        [{ writeEnabled: null }, 'must be a boolean'],
        [{ writeEnable: false }, 'unknown attribute'],
        [{ changeableAttributes: { readEnabled: 'no' } }, 'must be a boolean'],
      ];
      for (const [body, message] of cases) {
        const res = await patch(c, '/acr/v1/team/app/web', body);
        expect(res.status).toBe(400);
        expect(errorCode(res)).toBe('BAD_REQUEST');
        expect(res.json().errors[0].message).toContain(message);
      }
      expect((await c.get('/acr/v1/team/app/web')).json().changeableAttributes).toEqual(UNLOCKED);
      const big = await patch(c, '/acr/v1/team/app/web', JSON.stringify({ writeEnabled: true, pad: 'x'.repeat(70 * 1024) }));
      expect(big.status).toBe(413);
    });

    it('answers unknown and invalid names with NAME_UNKNOWN / NAME_INVALID, unknown methods with 405', async () => {
      for (const path of ['/acr/v1/no/such/repo', '/acr/v1/no/such/repo/_tags', '/acr/v1/no/such/repo/_manifests', '/acr/v1/no/such/repo/_tags/v1', `/acr/v1/no/such/repo/_manifests/${image.digest}`]) {
        const res = await c.get(path);
        expect(res.status).toBe(404);
        expect(errorCode(res)).toBe('NAME_UNKNOWN');
      }
      const patched = await patch(c, '/acr/v1/no/such/repo', { writeEnabled: false });
      expect(patched.status).toBe(404);
      expect(errorCode(patched)).toBe('NAME_UNKNOWN');
      for (const path of ['/acr/v1/Team/App', '/acr/v1/../x', '/acr/v1/team/app/web/_tags/v1/extra', '/acr/v1/team//web']) {
        const res = await c.get(path);
        expect(res.status).toBe(400);
        expect(errorCode(res)).toBe('NAME_INVALID');
      }
      const post = await c.post('/acr/v1/team/app/web');
      expect(post.status).toBe(405);
      expect(post.header('allow')).toBe('GET, PATCH, DELETE');
    });
  });

  describe('tags', () => {
    let first: Awaited<ReturnType<typeof pushImage>>;
    let second: Awaited<ReturnType<typeof pushImage>>;

    beforeAll(async () => {
      first = await pushImage(c, 'tags/app', 'a', 1);
      for (const tag of ['b', 'c']) await pushManifest(c, 'tags/app', tag, first.manifest);
      second = await pushImage(c, 'tags/app', 'd', 1);
      await pushManifest(c, 'tags/app', 'e', second.manifest);
      // Distinct update times, in an order unlike the names: e, c, a, d, b.
      const repo = await repositoryRow('tags/app');
      const times: Record<string, string> = { e: '2024-01-01', c: '2024-01-02', a: '2024-01-03', d: '2024-01-04', b: '2024-01-05' };
      for (const [tag, day] of Object.entries(times)) {
        await h.db.tag.updateMany({ where: { repositoryId: repo.id, name: tag }, data: { updatedAt: new Date(`${day}T00:00:00Z`) } });
      }
    });

    it('lists tags in ACR form, by name, with Link pagination', async () => {
      const all = await c.get('/acr/v1/tags/app/_tags');
      expect(all.status).toBe(200);
      const body = all.json();
      expect(body.registry).toBe('acrreg.berth.test');
      expect(body.imageName).toBe('tags/app');
      expect(body.tags.map((t: any) => t.name)).toEqual(['a', 'b', 'c', 'd', 'e']);
      expect(body.tags[0]).toEqual({
        name: 'a',
        digest: first.digest,
        createdTime: expect.stringMatching(ISO_TIME),
        lastUpdateTime: '2024-01-03T00:00:00.000Z',
        signed: false,
        changeableAttributes: UNLOCKED,
      });
      expect(all.header('link')).toBeUndefined();

      const page1 = await c.get('/acr/v1/tags/app/_tags?n=2');
      expect(page1.json().tags.map((t: any) => t.name)).toEqual(['a', 'b']);
      expect(page1.header('link')).toBe('</acr/v1/tags/app/_tags?last=b&n=2>; rel="next"');
      const page2 = await c.get('/acr/v1/tags/app/_tags?last=b&n=2');
      expect(page2.json().tags.map((t: any) => t.name)).toEqual(['c', 'd']);
      const page3 = await c.get('/acr/v1/tags/app/_tags?last=d&n=2');
      expect(page3.json().tags.map((t: any) => t.name)).toEqual(['e']);
      expect(page3.header('link')).toBeUndefined();
    });

    it('orders by last update time both ways, keeping the order across pages', async () => {
      const names = async (query: string) => {
        const collected: string[] = [];
        let path: string | undefined = `/acr/v1/tags/app/_tags?${query}`;
        let pages = 0;
        while (path) {
          const res = await c.get(path);
          expect(res.status).toBe(200);
          collected.push(...res.json().tags.map((t: any) => t.name));
          const link = res.header('link');
          path = link ? link.slice(1, link.indexOf('>')) : undefined;
          pages++;
        }
        return { collected, pages };
      };
      expect(await names('orderby=timedesc&n=2')).toEqual({ collected: ['b', 'd', 'a', 'c', 'e'], pages: 3 });
      expect(await names('orderby=timeasc&n=2')).toEqual({ collected: ['e', 'c', 'a', 'd', 'b'], pages: 3 });
      expect(await names('orderby=none&n=3')).toEqual({ collected: ['a', 'b', 'c', 'd', 'e'], pages: 2 });
      const res = await c.get('/acr/v1/tags/app/_tags?orderby=timedesc&n=2');
      expect(res.header('link')).toBe('</acr/v1/tags/app/_tags?last=d&n=2&orderby=timedesc>; rel="next"');
    });

    it('filters by digest, and validates digest, orderby and n', async () => {
      const filtered = await c.get(`/acr/v1/tags/app/_tags?digest=${second.digest}&n=1`);
      expect(filtered.json().tags.map((t: any) => t.name)).toEqual(['d']);
      expect(filtered.header('link')).toBe(`</acr/v1/tags/app/_tags?last=d&n=1&digest=${encodeURIComponent(second.digest)}>; rel="next"`);
      const rest = await c.get(`/acr/v1/tags/app/_tags?digest=${second.digest}&n=1&last=d`);
      expect(rest.json().tags.map((t: any) => t.name)).toEqual(['e']);
      expect(rest.header('link')).toBeUndefined();
      const bad = await c.get('/acr/v1/tags/app/_tags?digest=sha256:nope');
      expect(bad.status).toBe(400);
      expect(errorCode(bad)).toBe('DIGEST_INVALID');
      const order = await c.get('/acr/v1/tags/app/_tags?orderby=newest');
      expect(order.status).toBe(400);
      expect(errorCode(order)).toBe('BAD_REQUEST');
      const n = await c.get('/acr/v1/tags/app/_tags?n=ten');
      expect(n.status).toBe(400);
      expect(errorCode(n)).toBe('PAGINATION_NUMBER_INVALID');
    });

    it('GETs one tag; unknown tags answer MANIFEST_UNKNOWN and invalid ones TAG_INVALID', async () => {
      const res = await c.get('/acr/v1/tags/app/_tags/d');
      expect(res.status).toBe(200);
      expect(res.json()).toEqual({
        registry: 'acrreg.berth.test',
        imageName: 'tags/app',
        tag: { name: 'd', digest: second.digest, createdTime: expect.stringMatching(ISO_TIME), lastUpdateTime: '2024-01-04T00:00:00.000Z', signed: false, changeableAttributes: UNLOCKED },
      });
      const unknown = await c.get('/acr/v1/tags/app/_tags/nope');
      expect(unknown.status).toBe(404);
      expect(errorCode(unknown)).toBe('MANIFEST_UNKNOWN');
      expect((await patch(c, '/acr/v1/tags/app/_tags/nope', { writeEnabled: false })).status).toBe(404);
      const invalid = await c.get('/acr/v1/tags/app/_tags/-bad');
      expect(invalid.status).toBe(400);
      expect(errorCode(invalid)).toBe('TAG_INVALID');
    });

    it('writeEnabled=false on a tag refuses moving it; the tag keeps its digest', async () => {
      const res = await patch(c, '/acr/v1/tags/app/_tags/a', { writeEnabled: false });
      expect(res.status).toBe(200);
      expect(res.json().tag.changeableAttributes).toEqual({ ...UNLOCKED, writeEnabled: false });
      const push = await pushManifest(c, 'tags/app', 'a', second.manifest);
      expect(push.status).toBe(405);
      expect(errorCode(push)).toBe('DENIED');
      expect(push.json().errors[0].message).toContain('writeEnabled=false');
      expect((await c.head('/v2/tags/app/manifests/a')).header('docker-content-digest')).toBe(first.digest);
      expect((await c.get('/acr/v1/tags/app/_tags/a')).json().tag.digest).toBe(first.digest);
      await patch(c, '/acr/v1/tags/app/_tags/a', { writeEnabled: true });
    });

    it('readEnabled=false on a tag denies pulls through it', async () => {
      await patch(c, '/acr/v1/tags/app/_tags/b', { readEnabled: false });
      const res = await c.get('/v2/tags/app/manifests/b');
      expect(res.status).toBe(403);
      expect(errorCode(res)).toBe('DENIED');
      expect((await c.get('/v2/tags/app/manifests/c')).status).toBe(200);
      await patch(c, '/acr/v1/tags/app/_tags/b', { readEnabled: true });
      expect((await c.get('/v2/tags/app/manifests/b')).status).toBe(200);
    });

    it('listEnabled=false hides a tag from /v2 and /acr tag lists and manifest tag lists', async () => {
      await patch(c, '/acr/v1/tags/app/_tags/c', { listEnabled: false });
      expect((await c.get('/v2/tags/app/tags/list')).json().tags).toEqual(['a', 'b', 'd', 'e']);
      expect((await c.get('/acr/v1/tags/app/_tags')).json().tags.map((t: any) => t.name)).toEqual(['a', 'b', 'd', 'e']);
      expect((await c.get(`/acr/v1/tags/app/_manifests/${first.digest}`)).json().manifest.tags).toEqual(['a', 'b']);
      expect((await c.get('/acr/v1/tags/app/_tags/c')).json().tag.changeableAttributes.listEnabled).toBe(false);
      await patch(c, '/acr/v1/tags/app/_tags/c', { listEnabled: true });
      expect((await c.get('/v2/tags/app/tags/list')).json().tags).toEqual(['a', 'b', 'c', 'd', 'e']);
    });

    it('DELETE untags (the manifest stays) and is refused while the tag has deleteEnabled=false', async () => {
      await pushManifest(c, 'tags/app', 'doomed', first.manifest);
      await patch(c, '/acr/v1/tags/app/_tags/doomed', { deleteEnabled: false });
      const refused = await c.delete('/acr/v1/tags/app/_tags/doomed');
      expect(refused.status).toBe(405);
      expect(errorCode(refused)).toBe('DENIED');
      expect(refused.json().errors[0].message).toContain('tag tags/app:doomed');
      expect(refused.json().errors[0].message).toContain('deleteEnabled=false');
      await patch(c, '/acr/v1/tags/app/_tags/doomed', { deleteEnabled: true });
      const res = await c.delete('/acr/v1/tags/app/_tags/doomed');
      expect(res.status).toBe(202);
      expect((await c.get('/acr/v1/tags/app/_tags/doomed')).status).toBe(404);
      expect((await c.get(`/v2/tags/app/manifests/${first.digest}`)).status).toBe(200);
      const again = await c.delete('/acr/v1/tags/app/_tags/doomed');
      expect(again.status).toBe(404);
      expect(errorCode(again)).toBe('MANIFEST_UNKNOWN');
    });
  });

  describe('manifests', () => {
    let amd: Awaited<ReturnType<typeof pushImage>>;
    let arm: { digest: string; manifest: Buffer; config: ReturnType<typeof imageConfig>; layer: ReturnType<typeof testBlob> };
    let indexDigest: string;

    beforeAll(async () => {
      amd = await pushImage(c, 'mani/app', 'amd', 2);
      const config = imageConfig('arm64', 'linux');
      const layer = testBlob();
      await pushBlob(c, 'mani/app', config);
      await pushBlob(c, 'mani/app', layer);
      const manifest = ociManifest(config, [layer]);
      expect((await pushManifest(c, 'mani/app', 'arm', manifest)).status).toBe(201);
      arm = { digest: digestOf(manifest), manifest, config, layer };
      const index = json({
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [
          { mediaType: MediaType.OciManifest, digest: amd.digest, size: amd.manifest.length, platform: { architecture: 'amd64', os: 'linux' } },
          { mediaType: MediaType.OciManifest, digest: arm.digest, size: manifest.length, platform: { architecture: 'arm64', os: 'linux' } },
        ],
      });
      expect((await pushManifest(c, 'mani/app', 'multi', index, MediaType.OciIndex)).status).toBe(201);
      indexDigest = digestOf(index);
      await pushManifest(c, 'mani/app', 'latest', amd.manifest);
    });

    it('lists manifests in ACR form with platform, sizes, media types and tags', async () => {
      const res = await c.get('/acr/v1/mani/app/_manifests');
      expect(res.status).toBe(200);
      const body = res.json();
      expect(body.registry).toBe('acrreg.berth.test');
      expect(body.imageName).toBe('mani/app');
      const digests = body.manifests.map((m: any) => m.digest);
      expect(digests).toEqual([amd.digest, arm.digest, indexDigest].sort());
      const amdEntry = body.manifests.find((m: any) => m.digest === amd.digest);
      const imageSize = amd.manifest.length + amd.config.size + amd.layers.reduce((sum, layer) => sum + layer.size, 0);
      expect(amdEntry).toEqual({
        digest: amd.digest,
        imageSize,
        createdTime: expect.stringMatching(ISO_TIME),
        lastUpdateTime: expect.stringMatching(ISO_TIME),
        architecture: 'amd64',
        os: 'linux',
        mediaType: MediaType.OciManifest,
        configMediaType: MediaType.OciImageConfig,
        references: [],
        tags: ['amd', 'latest'],
        changeableAttributes: UNLOCKED,
      });
      const indexEntry = body.manifests.find((m: any) => m.digest === indexDigest);
      expect(indexEntry).toMatchObject({ mediaType: MediaType.OciIndex, configMediaType: null, architecture: null, os: null, tags: ['multi'] });
    });

    it('GETs one manifest with the platforms of an index\'s children', async () => {
      const res = await c.get(`/acr/v1/mani/app/_manifests/${indexDigest}`);
      expect(res.status).toBe(200);
      const body = res.json();
      expect(body.registry).toBe('acrreg.berth.test');
      expect(body.imageName).toBe('mani/app');
      expect(body.manifest.digest).toBe(indexDigest);
      expect(body.manifest.references).toEqual(
        [
          { digest: amd.digest, architecture: 'amd64', os: 'linux' },
          { digest: arm.digest, architecture: 'arm64', os: 'linux' },
        ].sort((x, y) => x.digest.localeCompare(y.digest)),
      );
      // A percent-encoded digest works too.
      expect((await c.get(`/acr/v1/mani/app/_manifests/${encodeURIComponent(arm.digest)}`)).json().manifest.architecture).toBe('arm64');
    });

    it('paginates manifests by digest and by time, with Link', async () => {
      const sorted = [amd.digest, arm.digest, indexDigest].sort();
      const first = await c.get('/acr/v1/mani/app/_manifests?n=2');
      expect(first.json().manifests.map((m: any) => m.digest)).toEqual(sorted.slice(0, 2));
      expect(first.header('link')).toBe(`</acr/v1/mani/app/_manifests?last=${encodeURIComponent(sorted[1]!)}&n=2>; rel="next"`);
      const link = first.header('link')!;
      const second = await c.get(link.slice(1, link.indexOf('>')));
      expect(second.json().manifests.map((m: any) => m.digest)).toEqual(sorted.slice(2));
      expect(second.header('link')).toBeUndefined();

      const repo = await repositoryRow('mani/app');
      const times: Array<[string, string]> = [[indexDigest, '2023-01-01'], [arm.digest, '2023-02-01'], [amd.digest, '2023-03-01']];
      for (const [digest, day] of times) {
        await h.db.manifest.updateMany({ where: { repositoryId: repo.id, digest }, data: { updatedAt: new Date(`${day}T00:00:00Z`) } });
      }
      const desc1 = await c.get('/acr/v1/mani/app/_manifests?orderby=timedesc&n=1');
      expect(desc1.json().manifests.map((m: any) => m.digest)).toEqual([amd.digest]);
      const descLink = desc1.header('link')!;
      expect(descLink).toContain('orderby=timedesc');
      const desc2 = await c.get(descLink.slice(1, descLink.indexOf('>')));
      expect(desc2.json().manifests.map((m: any) => m.digest)).toEqual([arm.digest]);
      const asc = await c.get('/acr/v1/mani/app/_manifests?orderby=timeasc');
      expect(asc.json().manifests.map((m: any) => m.digest)).toEqual([indexDigest, arm.digest, amd.digest]);
      const bad = await c.get('/acr/v1/mani/app/_manifests?orderby=time_desc');
      expect(bad.status).toBe(400);
      expect(errorCode(bad)).toBe('BAD_REQUEST');
    });

    it('answers bad digests with DIGEST_INVALID and unknown ones with MANIFEST_UNKNOWN', async () => {
      for (const digest of ['sha256:1234', 'nothex', 'md5:abc']) {
        const res = await c.get(`/acr/v1/mani/app/_manifests/${digest}`);
        expect(res.status).toBe(400);
        expect(errorCode(res)).toBe('DIGEST_INVALID');
      }
      const unknown = await c.get(`/acr/v1/mani/app/_manifests/${digestOf('nothing')}`);
      expect(unknown.status).toBe(404);
      expect(errorCode(unknown)).toBe('MANIFEST_UNKNOWN');
      const patched = await patch(c, `/acr/v1/mani/app/_manifests/${digestOf('nothing')}`, { deleteEnabled: false });
      expect(patched.status).toBe(404);
      expect(errorCode(patched)).toBe('MANIFEST_UNKNOWN');
      expect((await c.delete(`/acr/v1/mani/app/_manifests/${amd.digest}`)).status).toBe(405);
    });

    it('listEnabled=false hides a manifest from the manifest list', async () => {
      const res = await patch(c, `/acr/v1/mani/app/_manifests/${arm.digest}`, { listEnabled: false });
      expect(res.status).toBe(200);
      expect(res.json().manifest.changeableAttributes).toEqual({ ...UNLOCKED, listEnabled: false });
      expect((await c.get('/acr/v1/mani/app/_manifests')).json().manifests.map((m: any) => m.digest)).not.toContain(arm.digest);
      await patch(c, `/acr/v1/mani/app/_manifests/${arm.digest}`, { listEnabled: true });
      expect((await c.get('/acr/v1/mani/app/_manifests')).json().manifests.map((m: any) => m.digest)).toContain(arm.digest);
    });

    it('readEnabled=false on a manifest denies pulls of it', async () => {
      await patch(c, `/acr/v1/mani/app/_manifests/${amd.digest}`, { readEnabled: false });
      expect((await c.get(`/v2/mani/app/manifests/${amd.digest}`)).status).toBe(403);
      expect((await c.get('/v2/mani/app/manifests/amd')).status).toBe(403);
      await patch(c, `/acr/v1/mani/app/_manifests/${amd.digest}`, { readEnabled: true });
      expect((await c.get('/v2/mani/app/manifests/amd')).status).toBe(200);
    });

    it('deleteEnabled=false on a manifest refuses its /v2 delete and the repository delete, naming it', async () => {
      await patch(c, `/acr/v1/mani/app/_manifests/${indexDigest}`, { deleteEnabled: false });
      const v2 = await c.delete(`/v2/mani/app/manifests/${indexDigest}`);
      expect(v2.status).toBe(405);
      expect(errorCode(v2)).toBe('DENIED');
      const repo = await c.delete('/acr/v1/mani/app');
      expect(repo.status).toBe(405);
      expect(errorCode(repo)).toBe('DENIED');
      expect(repo.json().errors[0].message).toBe(`repository mani/app cannot be deleted: manifest mani/app@${indexDigest} is locked (deleteEnabled=false)`);
      expect(repo.json().errors[0].detail).toEqual({ attribute: 'deleteEnabled', repository: false, manifests: [indexDigest], tags: [] });
      expect((await c.get('/acr/v1/mani/app')).json().manifestCount).toBe(3);
      await patch(c, `/acr/v1/mani/app/_manifests/${indexDigest}`, { deleteEnabled: true });
    });
  });

  describe('repository delete', () => {
    let dreg: SeededRegistry;
    let d: RegistryClient;
    const usage = async () => (await h.db.registry.findUniqueOrThrow({ where: { id: dreg.id } })).storageUsedBytes;
    const blobBytes = async () => (await h.db.blob.aggregate({ where: { registryId: dreg.id }, _sum: { size: true } }))._sum.size ?? 0n;
    const events = (type: string) => h.db.outboxEvent.findMany({ where: { registryId: dreg.id, type }, orderBy: { id: 'asc' } });

    beforeAll(async () => {
      dreg = await seedRegistry(h.db, h.config, { name: 'delreg' });
      d = h.client('delreg', { basic: dreg.admin });
    });

    it('deletes every manifest, tag and blob link with one repository.delete event; usage drops to the blob bytes', async () => {
      const one = await pushImage(d, 'gone/app', 'v1');
      await pushManifest(d, 'gone/app', 'stable', one.manifest);
      const two = await pushImage(d, 'gone/app', 'v2');
      const index = json({
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [one, two].map((image) => ({ mediaType: MediaType.OciManifest, digest: image.digest, size: image.manifest.length })),
      });
      expect((await pushManifest(d, 'gone/app', 'multi', index, MediaType.OciIndex)).status).toBe(201);
      const untagged = ociManifest(one.config, []);
      expect((await pushManifest(d, 'gone/app', digestOf(untagged), untagged)).status).toBe(201);
      // The same manifest in another repository: its bytes stay counted.
      for (const blob of [two.config, ...two.layers]) await pushBlob(d, 'kept/app', blob);
      expect((await pushManifest(d, 'kept/app', 'v2', two.manifest)).status).toBe(201);
      const manifestBytes = BigInt(one.manifest.length + two.manifest.length + index.length + untagged.length);
      expect(await usage()).toBe((await blobBytes()) + manifestBytes);
      const pushEvents = (await events('image.push')).length;

      const res = await d.delete('/acr/v1/gone/app');
      expect(res.status).toBe(202);
      expect(res.header('content-type')).toBe('application/json');
      expect(res.json()).toEqual({
        manifestsDeleted: [one.digest, two.digest, digestOf(index), digestOf(untagged)].sort(),
        tagsDeleted: ['multi', 'stable', 'v1', 'v2'],
      });

      const tags = await d.get('/v2/gone/app/tags/list');
      expect(tags.status).toBe(404);
      expect(errorCode(tags)).toBe('NAME_UNKNOWN');
      expect(errorCode(await d.get('/acr/v1/gone/app'))).toBe('NAME_UNKNOWN');
      for (const ref of ['v1', one.digest]) expect((await d.get(`/v2/gone/app/manifests/${ref}`)).status).toBe(404);
      const blob = await d.get(`/v2/gone/app/blobs/${one.layers[0]!.digest}`);
      expect(blob.status).toBe(404);
      expect(errorCode(blob)).toBe('BLOB_UNKNOWN');
      expect((await d.get('/acr/v1/_catalog')).json().repositories).toEqual(['kept/app']);

      const deleted = await events('repository.delete');
      expect(deleted).toHaveLength(1);
      expect(deleted[0]!.payload).toEqual({
        eventId: expect.any(String),
        timestamp: expect.stringMatching(ISO_TIME),
        registryId: dreg.id,
        registryName: 'delreg',
        repository: 'gone/app',
        manifestsDeleted: res.json().manifestsDeleted,
        tagsDeleted: res.json().tagsDeleted,
        request: { id: expect.any(String), host: 'delreg.berth.test', method: 'DELETE', useragent: '' },
      });
      expect(await events('image.delete')).toHaveLength(0);
      expect((await events('image.push')).length).toBe(pushEvents);
      // Blobs are left to GC; only the other repository's manifest is still counted.
      expect(await h.db.blob.count({ where: { registryId: dreg.id, digest: one.layers[0]!.digest } })).toBe(1);
      expect(await usage()).toBe((await blobBytes()) + BigInt(two.manifest.length));
      expect((await d.get(`/v2/kept/app/manifests/v2`)).status).toBe(200);

      // Deleting the last copy frees the manifest bytes too.
      expect((await d.delete('/acr/v1/kept/app')).status).toBe(202);
      expect(await usage()).toBe(await blobBytes());

      // The name is free again, with fresh (unlocked) attributes.
      const again = await pushImage(d, 'gone/app', 'v1');
      expect((await d.get('/acr/v1/gone/app')).json()).toMatchObject({ manifestCount: 1, tagCount: 1, changeableAttributes: UNLOCKED });
      expect((await d.get('/v2/gone/app/manifests/v1')).header('docker-content-digest')).toBe(again.digest);
      await d.delete('/acr/v1/gone/app');
    });

    it('refuses while the repository or a tag has deleteEnabled=false, naming it, and deletes nothing', async () => {
      const image = await pushImage(d, 'locked/app', 'v1', 1);
      await pushManifest(d, 'locked/app', 'v2', image.manifest);
      const before = await usage();
      const eventsBefore = (await events('repository.delete')).length;

      await patch(d, '/acr/v1/locked/app', { deleteEnabled: false });
      const repoLocked = await d.delete('/acr/v1/locked/app');
      expect(repoLocked.status).toBe(405);
      expect(errorCode(repoLocked)).toBe('DENIED');
      expect(repoLocked.json().errors[0].message).toBe('repository locked/app cannot be deleted: repository locked/app is locked (deleteEnabled=false)');
      await patch(d, '/acr/v1/locked/app', { deleteEnabled: true });

      await patch(d, '/acr/v1/locked/app/_tags/v2', { deleteEnabled: false });
      const tagLocked = await d.delete('/acr/v1/locked/app');
      expect(tagLocked.status).toBe(405);
      expect(tagLocked.json().errors[0].message).toContain('tag locked/app:v2 is locked (deleteEnabled=false)');
      expect(tagLocked.json().errors[0].detail.tags).toEqual(['v2']);

      expect((await d.get('/acr/v1/locked/app')).json()).toMatchObject({ manifestCount: 1, tagCount: 2 });
      expect(await usage()).toBe(before);
      expect(await events('repository.delete')).toHaveLength(eventsBefore);
      await patch(d, '/acr/v1/locked/app/_tags/v2', { deleteEnabled: true });
      expect((await d.delete('/acr/v1/locked/app')).status).toBe(202);
    });

    it('answers NAME_UNKNOWN for a repository that does not exist', async () => {
      const res = await d.delete('/acr/v1/never/was');
      expect(res.status).toBe(404);
      expect(errorCode(res)).toBe('NAME_UNKNOWN');
    });

    it('keeps usage exact when a repository delete races a /v2 delete of the same digest elsewhere', async () => {
      const manifestBytes = async () => (await usage()) - (await blobBytes());
      const baseline = await manifestBytes();
      for (let round = 0; round < 4; round++) {
        const image = await pushImage(d, `race/a${round}`, 'v1', 1);
        for (const blob of [image.config, ...image.layers]) await pushBlob(d, `race/b${round}`, blob);
        expect((await pushManifest(d, `race/b${round}`, 'v1', image.manifest)).status).toBe(201);
        const [repoDelete, manifestDelete] = await Promise.all([
          d.delete(`/acr/v1/race/a${round}`),
          d.delete(`/v2/race/b${round}/manifests/${image.digest}`),
        ]);
        expect(repoDelete.status).toBe(202);
        expect(manifestDelete.status).toBe(202);
        expect(await manifestBytes()).toBe(baseline);
      }
    });

    it('keeps usage exact when pushes into the repository race its delete', async () => {
      // Usage must equal the blobs plus each distinct manifest digest still stored, whoever wins.
      const expected = async () => {
        const rows = await h.db.$queryRaw<Array<{ bytes: bigint }>>`
          SELECT COALESCE(sum("size"), 0)::bigint AS "bytes"
          FROM (SELECT DISTINCT "digest", "size" FROM "Manifest" WHERE "registryId" = ${dreg.id}::uuid) AS d`;
        return (await blobBytes()) + rows[0]!.bytes;
      };
      for (let round = 0; round < 3; round++) {
        const config = imageConfig();
        await pushBlob(d, `busy/x${round}`, config);
        await pushBlob(d, `busy/y${round}`, config);
        const manifests = [0, 1, 2, 3].map((i) => ociManifest(config, [], { annotations: { round: String(round), i: String(i) } }));
        // Two of the digests are also in another repository, deleted at the same time.
        for (const manifest of manifests.slice(0, 2)) await pushManifest(d, `busy/y${round}`, digestOf(manifest), manifest);
        const results = await Promise.all([
          ...manifests.map((manifest, i) => pushManifest(d, `busy/x${round}`, `t${i}`, manifest)),
          d.delete(`/acr/v1/busy/x${round}`),
          d.delete(`/acr/v1/busy/y${round}`),
        ]);
        expect(results.slice(4).map((res) => res.status)).toEqual([202, 202]);
        expect(await usage()).toBe(await expected());
      }
    });
  });

  describe('authorisation', () => {
    beforeAll(async () => {
      await pushImage(c, 'auth/app', 'v1', 0);
    });

    it('answers requests without credentials with 401 and a challenge naming the scope', async () => {
      const cases: Array<[string, string, string]> = [
        ['GET', '/acr/v1/auth/app', 'repository:auth/app:pull'],
        ['GET', '/acr/v1/auth/app/_tags/v1', 'repository:auth/app:pull'],
        ['PATCH', '/acr/v1/auth/app', 'repository:auth/app:push'],
        ['DELETE', '/acr/v1/auth/app', 'repository:auth/app:delete'],
        ['DELETE', '/acr/v1/auth/app/_tags/v1', 'repository:auth/app:delete'],
        ['GET', '/acr/v1/_catalog', 'registry:catalog:*'],
      ];
      for (const [method, path, scope] of cases) {
        const res = await c.request(method, path, { auth: null });
        expect(res.status).toBe(401);
        expect(errorCode(res)).toBe('UNAUTHORIZED');
        expect(res.header('www-authenticate')).toBe(`Bearer realm="http://acrreg.berth.test/oauth2/token",service="acrreg.berth.test",scope="${scope}"`);
      }
    });

    it('lets a pull-only principal read but not PATCH or DELETE (403 DENIED)', async () => {
      const sp = await seedServicePrincipal(h.db, h.config, reg.id, { roles: [{ role: 'AcrPull' }] });
      const puller = c.as({ basic: sp.credentials });
      expect((await puller.get('/acr/v1/auth/app')).status).toBe(200);
      expect((await puller.get('/acr/v1/auth/app/_tags')).status).toBe(200);
      expect((await puller.get('/acr/v1/auth/app/_manifests')).status).toBe(200);
      for (const res of [
        await patch(puller, '/acr/v1/auth/app', { writeEnabled: false }),
        await patch(puller, '/acr/v1/auth/app/_tags/v1', { deleteEnabled: false }),
        await puller.delete('/acr/v1/auth/app'),
        await puller.delete('/acr/v1/auth/app/_tags/v1'),
      ]) {
        expect(res.status).toBe(403);
        expect(errorCode(res)).toBe('DENIED');
      }
      // The same through the token flow: the token holds pull only, so push is refused.
      const token = await puller.token(sp.credentials, 'repository:auth/app:pull,push,delete');
      const bearer = c.as({ bearer: token });
      expect((await bearer.get('/acr/v1/auth/app')).status).toBe(200);
      const denied = await patch(bearer, '/acr/v1/auth/app', { writeEnabled: false });
      expect(denied.status).toBe(403);
      expect(errorCode(denied)).toBe('DENIED');
      expect((await c.get('/acr/v1/auth/app')).json().changeableAttributes).toEqual(UNLOCKED);
    });

    it('lets AcrPush change attributes but not delete, and AcrDelete delete', async () => {
      const pusher = await seedServicePrincipal(h.db, h.config, reg.id, { roles: [{ role: 'AcrPush' }] });
      const token = await c.token(pusher.credentials, 'repository:auth/app:pull,push');
      const asPusher = c.as({ bearer: token });
      const res = await patch(asPusher, '/acr/v1/auth/app/_tags/v1', { writeEnabled: false });
      expect(res.status).toBe(200);
      expect(res.json().tag.changeableAttributes.writeEnabled).toBe(false);
      await patch(asPusher, '/acr/v1/auth/app/_tags/v1', { writeEnabled: true });
      expect((await c.as({ basic: pusher.credentials }).delete('/acr/v1/auth/app')).status).toBe(403);
      const refused = await asPusher.delete('/acr/v1/auth/app');
      expect(refused.status).toBe(403);
      expect(errorCode(refused)).toBe('DENIED');

      const deleter = await seedServicePrincipal(h.db, h.config, reg.id, { roles: [{ role: 'AcrDelete' }] });
      const deleteToken = await c.token(deleter.credentials, 'repository:auth/app:delete');
      expect((await c.as({ bearer: deleteToken }).delete('/acr/v1/auth/app')).status).toBe(202);
      expect((await c.get('/acr/v1/auth/app')).status).toBe(404);
    });

    it('needs an unrestricted assignment for the catalog', async () => {
      const limited = await seedServicePrincipal(h.db, h.config, reg.id, { roles: [{ role: 'AcrPull', repositories: ['cat/*'] }] });
      const res = await c.as({ basic: limited.credentials }).get('/acr/v1/_catalog');
      expect(res.status).toBe(401);
      const token = await c.token(reg.admin, 'registry:catalog:*');
      expect((await c.as({ bearer: token }).get('/acr/v1/_catalog')).status).toBe(200);
    });
  });
});
