import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { addHostsEntries, type HostsEntries } from './hosts-file';
import { buildImage, buildIndex, randomLayer, readOciLayout, sha256, writeOciLayout, type Image, type ImageIndex } from './oci-layout';
import { describeRun, mustFail, mustRun, onPath, runTool, type ToolOptions } from './run-tool';
import { CLIENTS_DOMAIN, startClientStack, type ClientStack } from './stack';

/** The storage a run of the scenario uses. */
export interface StorageUnderTest {
  /** Shown in the test names. */
  label: string;
  /** Goes into the registry names, so concurrent files never share one (lowercase alphanumerics). */
  tag: string;
  /** Starts what the storage needs and returns its configuration variables. */
  setup(): Promise<{ env: Record<string, string>; cleanup(): Promise<void> }>;
  /** Whether large layer downloads are answered with a 307 to the storage service (signed URL). */
  redirectsDownloads: boolean;
}

const COMMAND_TIMEOUT_MS = 20_000;
const STEP_TIMEOUT_MS = 45_000;

interface Credentials {
  username: string;
  password: string;
}

/** Counts `berth_registry_http_requests_total` samples matching route, method and status. */
function requestCount(metrics: string, route: string, method: string, status: number): number {
  let total = 0;
  for (const line of metrics.split('\n')) {
    if (!line.startsWith('berth_registry_http_requests_total{')) continue;
    if (line.includes(`route="${route}"`) && line.includes(`method="${method}"`) && line.includes(`status="${status}"`)) {
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return total;
}

/**
 * The end-to-end run with real clients (skopeo, podman): registries and
 * credentials made through the management API over HTTP, images built as an
 * OCI layout on disk, copied in and out and compared digest by digest.
 * Each storage driver runs the same scenario from its own test file.
 */
export function describeRealClients(storage: StorageUnderTest): void {
  const title = `real clients (skopeo, podman) against the data plane on ${storage.label}`;
  if (!onPath('skopeo')) {
    // CI installs skopeo and podman (.ci/run); a developer machine may lack them.
    console.warn(`SKIPPED: ${title} — skopeo is not on the PATH (apt-get install -y skopeo podman)`);
    describe.skip(`${title} (skopeo is not installed)`, () => {
      it('needs skopeo on the PATH', () => undefined);
    });
    return;
  }
  const podmanMissing = !onPath('podman');
  if (podmanMissing) console.warn(`SKIPPED: the podman part of ${title} — podman is not on the PATH`);

  describe(title, () => {
    const suffix = randomBytes(4).toString('hex');
    const registryName = `cli${storage.tag}${suffix}`;
    const otherName = `cli${storage.tag}other${suffix}`;
    const hostName = `${registryName}.${CLIENTS_DOMAIN}`;
    const otherHostName = `${otherName}.${CLIENTS_DOMAIN}`;

    let stack: ClientStack;
    let storageCleanup: (() => Promise<void>) | undefined;
    let hosts: HostsEntries | undefined;
    let work: string;
    let layout: string;
    /** `<name>.berth.test:<port>` */
    let server: string;
    let otherServer: string;
    let admin: Credentials;
    let otherAdmin: Credentials;
    let pusher: Credentials;
    let puller: Credentials;
    const authfiles: Record<'admin' | 'pusher' | 'puller' | 'adminOnOther' | 'otherAdmin', string> = {
      admin: '',
      pusher: '',
      puller: '',
      adminOnOther: '',
      otherAdmin: '',
    };

    let app: Image;
    let multi: ImageIndex;

    const skopeo = (args: string[], options: ToolOptions = {}) => mustRun('skopeo', args, { timeoutMs: COMMAND_TIMEOUT_MS, ...options });
    const skopeoFails = (args: string[], options: ToolOptions = {}) => mustFail('skopeo', args, { timeoutMs: COMMAND_TIMEOUT_MS, ...options });
    const ref = (repository: string, server_ = server) => `docker://${server_}/${repository}`;
    /** `skopeo inspect --raw` as admin: the exact bytes the registry serves. */
    const rawManifest = async (reference: string, authfile = authfiles.admin) =>
      Buffer.from((await skopeo(['inspect', '--raw', '--tls-verify=false', '--authfile', authfile, reference])).stdout, 'utf8');

    async function writeAuthfile(name: string, registryHost: string, credentials: Credentials): Promise<string> {
      const file = path.join(work, 'auth', `${name}.json`);
      const auth = Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64');
      await writeFile(file, JSON.stringify({ auths: { [registryHost]: { auth } } }), { mode: 0o600 });
      return file;
    }

    async function createRegistry(name: string): Promise<Credentials> {
      const created = await stack.api('POST', '/api/v1/registries', { name, sku: 'Standard', adminUserEnabled: true });
      if (created.status !== 201) throw new Error(`creating registry ${name}: ${created.status} ${JSON.stringify(created.body)}`);
      expect(created.body.properties.loginServer).toBe(`${name}.${CLIENTS_DOMAIN}`);
      const credentials = await stack.api('GET', `/api/v1/registries/${name}/credentials`);
      if (credentials.status !== 200) throw new Error(`credentials of ${name}: ${credentials.status} ${JSON.stringify(credentials.body)}`);
      return { username: credentials.body.username, password: credentials.body.passwords[0].value };
    }

    async function createPrincipal(displayName: string, role: string): Promise<Credentials> {
      const created = await stack.api('POST', `/api/v1/registries/${registryName}/service-principals`, { displayName, role });
      if (created.status !== 201) throw new Error(`creating principal ${displayName}: ${created.status} ${JSON.stringify(created.body)}`);
      return { username: created.body.clientId, password: created.body.secret };
    }

    /** Copies `reference` out to a fresh OCI layout and returns what it holds under `v1`. */
    async function copyOut(reference: string, auth: string[], options: { all?: boolean; secrets?: string[] } = {}) {
      const dir = await mkdtemp(path.join(work, 'out-'));
      await skopeo(['copy', '--quiet', '--src-tls-verify=false', ...auth, ...(options.all ? ['--all'] : []), reference, `oci:${dir}:v1`], {
        secrets: options.secrets,
      });
      return readOciLayout(dir, 'v1');
    }

    /** Asserts a layout holds the image unchanged: manifest, config and every layer byte for byte. */
    async function expectImageInLayout(entry: Awaited<ReturnType<typeof readOciLayout>>, image: Image, viaDescriptor = true) {
      if (viaDescriptor) expect(entry.descriptor.digest).toBe(image.digest);
      expect((await entry.blob(image.digest)).equals(image.manifest)).toBe(true);
      expect((await entry.blob(image.configDigest)).equals(image.config)).toBe(true);
      for (const layer of image.layers) expect((await entry.blob(layer.digest)).equals(layer.blob)).toBe(true);
    }

    beforeAll(async () => {
      work = await mkdtemp(path.join(tmpdir(), 'berth-clients-'));
      await mkdir(path.join(work, 'auth'));
      const configured = await storage.setup();
      storageCleanup = configured.cleanup;
      stack = await startClientStack(configured.env);
      server = `${hostName}:${stack.registryPort}`;
      otherServer = `${otherHostName}:${stack.registryPort}`;
      hosts = await addHostsEntries([hostName, otherHostName]);

      admin = await createRegistry(registryName);
      otherAdmin = await createRegistry(otherName);
      expect(admin.username).toBe(registryName);
      pusher = await createPrincipal('ci-pusher', 'AcrPush');
      puller = await createPrincipal('ci-puller', 'AcrPull');
      authfiles.admin = await writeAuthfile('admin', server, admin);
      authfiles.pusher = await writeAuthfile('pusher', server, pusher);
      authfiles.puller = await writeAuthfile('puller', server, puller);
      authfiles.adminOnOther = await writeAuthfile('admin-on-other', otherServer, admin);
      authfiles.otherAdmin = await writeAuthfile('other-admin', otherServer, otherAdmin);

      // Random (incompressible) layers of several hundred KiB, so uploads and
      // downloads stream real volumes; the two platforms share a base layer.
      app = buildImage([randomLayer('base', 300 * 1024), randomLayer('lib', 500 * 1024), randomLayer('app', 700 * 1024)], {
        architecture: 'amd64',
        os: 'linux',
      });
      const sharedBase = randomLayer('base', 256 * 1024);
      multi = buildIndex([
        buildImage([sharedBase, randomLayer('amd64', 200 * 1024)], { architecture: 'amd64', os: 'linux' }),
        buildImage([sharedBase, randomLayer('arm64', 200 * 1024)], { architecture: 'arm64', os: 'linux', variant: 'v8' }),
      ]);
      layout = path.join(work, 'layout');
      await writeOciLayout(layout, { v1: app, multi });
    }, 60_000);

    afterAll(async () => {
      await hosts?.remove();
      await stack?.close();
      await storageCleanup?.();
      if (work) await rm(work, { recursive: true, force: true });
    }, 30_000);

    it(
      'skopeo copies a 3-layer image in as the admin user, byte for byte',
      async () => {
        await skopeo(['copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false', '--dest-authfile', authfiles.admin, `oci:${layout}:v1`, ref('team/app:v1')]);

        const raw = await rawManifest(ref('team/app:v1'));
        expect(sha256(raw)).toBe(app.digest);
        expect(raw.equals(app.manifest)).toBe(true);
        const config = (await skopeo(['inspect', '--raw', '--config', '--tls-verify=false', '--authfile', authfiles.admin, ref('team/app:v1')])).stdout;
        expect(sha256(Buffer.from(config))).toBe(app.configDigest);

        const inspected = JSON.parse((await skopeo(['inspect', '--tls-verify=false', '--authfile', authfiles.admin, ref('team/app:v1')])).stdout);
        expect(inspected).toMatchObject({
          Name: `${server}/team/app`,
          Digest: app.digest,
          Architecture: 'amd64',
          Os: 'linux',
          Layers: app.layers.map((layer) => layer.digest),
        });
      },
      STEP_TIMEOUT_MS,
    );

    it(
      'skopeo copies a multi-platform index with --all, and every platform arrives',
      async () => {
        await skopeo([
          'copy',
          '--quiet',
          '--all',
          '--preserve-digests',
          '--dest-tls-verify=false',
          '--dest-authfile',
          authfiles.admin,
          `oci:${layout}:multi`,
          ref('team/multi:v1'),
        ]);

        const index = await rawManifest(ref('team/multi:v1'));
        expect(index.equals(multi.index)).toBe(true);
        for (const image of multi.images) {
          expect((await rawManifest(ref(`team/multi@${image.digest}`))).equals(image.manifest)).toBe(true);
          const { architecture, os } = image.platform;
          const inspected = JSON.parse(
            (
              await skopeo([
                '--override-arch',
                architecture,
                '--override-os',
                os,
                ...(image.platform.variant ? ['--override-variant', image.platform.variant] : []),
                'inspect',
                '--tls-verify=false',
                '--authfile',
                authfiles.admin,
                ref('team/multi:v1'),
              ])
            ).stdout,
          );
          // `Digest` is the index's (what the tag names); the layers and platform are the chosen child's.
          expect(inspected).toMatchObject({ Digest: multi.digest, Architecture: architecture, Os: os, Layers: image.layers.map((l) => l.digest) });
        }
      },
      STEP_TIMEOUT_MS,
    );

    it(
      'skopeo copies the image and the index back out unchanged',
      async () => {
        const adminAuth = ['--src-authfile', authfiles.admin];
        await expectImageInLayout(await copyOut(ref('team/app:v1'), adminAuth), app);

        const index = await copyOut(ref('team/multi:v1'), adminAuth, { all: true });
        expect(index.descriptor.digest).toBe(multi.digest);
        expect((await index.blob(multi.digest)).equals(multi.index)).toBe(true);
        for (const image of multi.images) await expectImageInLayout(index, image, false);

        // Pull by digest too.
        await expectImageInLayout(await copyOut(ref(`team/app@${app.digest}`), adminAuth), app);
      },
      STEP_TIMEOUT_MS,
    );

    it(
      'skopeo copies between repositories of the registry and lists their tags',
      async () => {
        await skopeo([
          'copy',
          '--quiet',
          '--preserve-digests',
          '--src-tls-verify=false',
          '--dest-tls-verify=false',
          '--authfile',
          authfiles.admin,
          ref('team/app:v1'),
          ref('team/app:v2'),
        ]);
        const listed = JSON.parse((await skopeo(['list-tags', '--tls-verify=false', '--authfile', authfiles.admin, ref('team/app')])).stdout);
        expect(listed).toEqual({ Repository: `${server}/team/app`, Tags: ['v1', 'v2'] });
        expect(sha256(await rawManifest(ref('team/app:v2')))).toBe(app.digest);

        const stderr = await skopeoFails(['list-tags', '--tls-verify=false', '--authfile', authfiles.admin, ref('team/nothing-here')]);
        // skopeo 1.9 reports a 404 on tags/list by status only, without the error body.
        expect(stderr).toMatch(/not known to registry|name unknown|404 \(Not Found\)/i);
      },
      STEP_TIMEOUT_MS,
    );

    it(
      'skopeo delete removes a manifest: inspecting it then fails with manifest unknown, other repositories keep theirs',
      async () => {
        await skopeo(['copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false', '--dest-authfile', authfiles.admin, `oci:${layout}:v1`, ref('team/doomed:v1')]);
        expect(sha256(await rawManifest(ref('team/doomed:v1')))).toBe(app.digest);

        await skopeo(['delete', '--tls-verify=false', '--authfile', authfiles.admin, ref('team/doomed:v1')]);

        const byTag = await skopeoFails(['inspect', '--raw', '--tls-verify=false', '--authfile', authfiles.admin, ref('team/doomed:v1')]);
        expect(byTag).toMatch(/manifest unknown/i);
        const byDigest = await skopeoFails(['inspect', '--raw', '--tls-verify=false', '--authfile', authfiles.admin, ref(`team/doomed@${app.digest}`)]);
        expect(byDigest).toMatch(/manifest unknown/i);
        // The same manifest in team/app is a different record: still there.
        expect(sha256(await rawManifest(ref('team/app:v1')))).toBe(app.digest);
      },
      STEP_TIMEOUT_MS,
    );

    it(
      'an AcrPush service principal pushes and pulls with its client id and secret',
      async () => {
        const creds = `${pusher.username}:${pusher.password}`;
        await skopeo(
          ['copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds', creds, `oci:${layout}:v1`, ref('ci/app:v1')],
          { secrets: [pusher.password] },
        );
        await expectImageInLayout(await copyOut(ref('ci/app:v1'), ['--src-creds', creds], { secrets: [pusher.password] }), app);
        const listed = JSON.parse((await skopeo(['list-tags', '--tls-verify=false', '--authfile', authfiles.pusher, ref('ci/app')])).stdout);
        expect(listed.Tags).toEqual(['v1']);
      },
      STEP_TIMEOUT_MS,
    );

    it(
      'an AcrPull service principal pulls, but its push is refused',
      async () => {
        await expectImageInLayout(await copyOut(ref('team/app:v1'), ['--src-authfile', authfiles.puller]), app);

        const stderr = await skopeoFails(['copy', '--quiet', '--dest-tls-verify=false', '--dest-authfile', authfiles.puller, `oci:${layout}:v1`, ref('team/pull-only:v1')]);
        // The token carries only `pull`, so the upload is refused with DENIED (403).
        expect(stderr).toMatch(/denied/i);
        // Nothing of the refused push is visible.
        const inspect = await skopeoFails(['inspect', '--raw', '--tls-verify=false', '--authfile', authfiles.admin, ref('team/pull-only:v1')]);
        expect(inspect).toMatch(/manifest unknown|not known to registry|name unknown/i);
      },
      STEP_TIMEOUT_MS,
    );

    it(
      "one registry's credentials open nothing in another, and its content does not leak there",
      async () => {
        const foreign = await skopeoFails(['inspect', '--raw', '--tls-verify=false', '--authfile', authfiles.adminOnOther, ref('team/app:v1', otherServer)]);
        expect(foreign).toMatch(/unauthorized|authentication required|invalid username\/password/i);
        const empty = await skopeoFails(['inspect', '--raw', '--tls-verify=false', '--authfile', authfiles.otherAdmin, ref('team/app:v1', otherServer)]);
        expect(empty).toMatch(/manifest unknown|not known to registry|name unknown/i);
      },
      STEP_TIMEOUT_MS,
    );

    it(
      storage.redirectsDownloads
        ? 'large layer downloads were redirected (307) to a signed storage URL, which the clients followed'
        : 'layer downloads were streamed by the data plane itself',
      async () => {
        const metrics = await stack.registryMetrics();
        const redirected = requestCount(metrics, 'blob.get', 'GET', 307);
        const streamed = requestCount(metrics, 'blob.get', 'GET', 200);
        if (storage.redirectsDownloads) {
          expect(redirected).toBeGreaterThan(0);
        } else {
          expect(redirected).toBe(0);
          expect(streamed).toBeGreaterThan(0);
        }
      },
    );

    (podmanMissing ? describe.skip : describe)('podman', () => {
      let podmanDir: string;
      let authfile: string;
      /** Every podman call has its own storage (vfs), run and tmp directories: no state shared with other runs. */
      const podmanArgs = (args: string[]) => [
        '--storage-driver',
        'vfs',
        '--root',
        path.join(podmanDir, 'root'),
        '--runroot',
        path.join(podmanDir, 'runroot'),
        '--tmpdir',
        path.join(podmanDir, 'tmp'),
        '--events-backend',
        'none',
        '--cgroup-manager',
        'cgroupfs',
        ...args,
      ];
      const podmanOptions = (options: ToolOptions): ToolOptions => ({
        timeoutMs: COMMAND_TIMEOUT_MS,
        env: { XDG_RUNTIME_DIR: path.join(podmanDir, 'xdg') },
        ...options,
      });
      const podman = (args: string[], options: ToolOptions = {}) => mustRun('podman', podmanArgs(args), podmanOptions(options));

      beforeAll(async () => {
        podmanDir = await mkdtemp(path.join(work, 'podman-'));
        await mkdir(path.join(podmanDir, 'xdg'), { mode: 0o700 });
        authfile = path.join(podmanDir, 'auth.json');
      });

      it(
        'podman login with a wrong password fails and stores nothing',
        async () => {
          const wrongAuthfile = path.join(podmanDir, 'wrong-auth.json');
          const result = await runTool(
            'podman',
            podmanArgs(['login', '--tls-verify=false', '--authfile', wrongAuthfile, '--username', registryName, '--password-stdin', server]),
            podmanOptions({ stdin: `${admin.password}x` }),
          );
          if (result.code === 0) throw new Error(`podman login with a wrong password succeeded:\n${describeRun(result)}`);
          expect(result.stderr).toMatch(/unauthorized|invalid username\/password|authentication required/i);
          const stored = await readFile(wrongAuthfile, 'utf8').catch(() => '');
          expect(stored).not.toContain(server);
        },
        STEP_TIMEOUT_MS,
      );

      it(
        'podman logs in as the admin user and pulls the image skopeo pushed',
        async () => {
          const login = await podman(['login', '--tls-verify=false', '--authfile', authfile, '--username', registryName, '--password-stdin', server], {
            stdin: admin.password,
          });
          expect(login.stdout).toMatch(/Login Succeeded/);

          await podman(['pull', '--quiet', '--tls-verify=false', '--authfile', authfile, `${server}/team/app:v1`]);
          const inspected = JSON.parse((await podman(['image', 'inspect', `${server}/team/app:v1`])).stdout)[0];
          expect(inspected.Digest).toBe(app.digest);
          expect(inspected.RootFS.Layers).toEqual(app.layers.map((layer) => layer.diffId));
          expect(inspected.Architecture).toBe('amd64');
        },
        STEP_TIMEOUT_MS,
      );

      it(
        'podman tags and pushes it to another repository, and skopeo sees the same image there',
        async () => {
          await podman(['tag', `${server}/team/app:v1`, `${server}/team/from-podman:v1`]);
          const mountsBefore = requestCount(await stack.registryMetrics(), 'upload.start', 'POST', 201);
          await podman(['push', '--quiet', '--tls-verify=false', '--authfile', authfile, `${server}/team/from-podman:v1`]);
          // podman knows where its layers came from (team/app), so it mounts
          // them across repositories (POST ?mount=&from= → 201) instead of
          // uploading again, and pushes the original manifest unchanged.
          const mounts = requestCount(await stack.registryMetrics(), 'upload.start', 'POST', 201) - mountsBefore;
          expect(mounts).toBeGreaterThanOrEqual(app.layers.length);
          expect((await rawManifest(ref('team/from-podman:v1'))).equals(app.manifest)).toBe(true);

          const config = JSON.parse(
            (await skopeo(['inspect', '--config', '--tls-verify=false', '--authfile', authfiles.admin, ref('team/from-podman:v1')])).stdout,
          );
          expect(config.rootfs.diff_ids).toEqual(app.layers.map((layer) => layer.diffId));
          expect(config.architecture).toBe('amd64');
          const listed = JSON.parse((await skopeo(['list-tags', '--tls-verify=false', '--authfile', authfiles.admin, ref('team/from-podman')])).stdout);
          expect(listed.Tags).toEqual(['v1']);
          // What podman pushed pulls back out as a complete, self-consistent image.
          const entry = await copyOut(ref('team/from-podman:v1'), ['--src-authfile', authfiles.admin]);
          const manifest = JSON.parse((await entry.blob(entry.descriptor.digest)).toString('utf8'));
          for (const layer of manifest.layers as { digest: string }[]) await entry.blob(layer.digest);
          expect(manifest.layers).toHaveLength(app.layers.length);
        },
        STEP_TIMEOUT_MS,
      );
    });
  });
}
