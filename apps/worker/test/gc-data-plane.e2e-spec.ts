// Online GC against the REAL data plane: apps/registry runs as its own process
// (`node -r scripts/register.js apps/registry/src/main.ts`, as `npm run start:registry`
// does; this app may not import it), the test pushes over HTTP and runs the
// worker's GC processor in-process, racing manifest PUTs.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as http from 'node:http';
import * as path from 'node:path';
import pino from 'pino';
import { generateSecret, SecretBox, sealAdminPassword } from '@berth/auth';
import { BlobGcProcessor } from '../src/gc/blob-gc.processor';
import { BlobGcRepository } from '../src/gc/blob-gc.repository';
import { WorkerMetrics } from '../src/metrics/worker-metrics';
import { createHarness, freePort, SHARED_REDIS_URL, type Harness } from './support/harness';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const DOMAIN = 'localhost';
const ITERATIONS = 20;

interface Answer {
  status: number;
  body: Buffer;
  code: string | undefined;
}

interface Blob {
  data: Buffer;
  digest: string;
}

const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('online GC racing pushes to the real data plane', () => {
  let h: Harness;
  let child: ChildProcess | undefined;
  let port: number;
  let registryId: string;
  let host: string;
  let authorization: string;
  const silent = pino({ level: 'silent' });
  const metrics = new WorkerMetrics({ queueCounts: async () => [], outboxPending: async () => 0 });
  let gc: BlobGcProcessor;

  function request(method: string, urlPath: string, body?: Buffer, headers: Record<string, string> = {}): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          method,
          path: urlPath,
          agent: false,
          headers: { host, authorization, ...(body ? { 'content-length': String(body.length) } : {}), ...headers },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', reject);
          res.on('end', () => {
            const data = Buffer.concat(chunks);
            let code: string | undefined;
            try {
              code = (JSON.parse(data.toString('utf8')) as { errors?: Array<{ code: string }> }).errors?.[0]?.code;
            } catch {
              code = undefined;
            }
            resolve({ status: res.statusCode ?? 0, body: data, code });
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  async function upload(blob: Blob): Promise<void> {
    const res = await request('POST', `/v2/app/blobs/uploads/?digest=${blob.digest}`, blob.data, { 'content-type': 'application/octet-stream' });
    expect(res.status).toBe(201);
  }

  function newImage(i: number): { config: Blob; layer: Blob; manifest: Buffer } {
    const configData = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, i, nonce: randomBytes(8).toString('hex') }));
    const layerData = randomBytes(200 + i);
    const config = { data: configData, digest: sha256(configData) };
    const layer = { data: layerData, digest: sha256(layerData) };
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: configData.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer.digest, size: layerData.length }],
      }),
    );
    return { config, layer, manifest };
  }

  const putManifest = (tag: string, manifest: Buffer) =>
    request('PUT', `/v2/app/manifests/${tag}`, manifest, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });

  /** What a pull of the image reads back: the manifest and both blobs, byte for byte. */
  async function expectPullable(tag: string, image: { config: Blob; layer: Blob; manifest: Buffer }): Promise<void> {
    const manifest = await request('GET', `/v2/app/manifests/${tag}`);
    expect(manifest.status).toBe(200);
    expect(manifest.body.equals(image.manifest)).toBe(true);
    for (const blob of [image.config, image.layer]) {
      const res = await request('GET', `/v2/app/blobs/${blob.digest}`);
      expect(res.status).toBe(200);
      expect(res.body.equals(blob.data)).toBe(true);
    }
  }

  beforeAll(async () => {
    h = await createHarness();
    const name = `gcdp${randomBytes(4).toString('hex')}`;
    host = `${name}.${DOMAIN}`;
    const registry = await h.db.registry.create({ data: { name, loginServer: host, skuName: 'Premium', adminUserEnabled: true } });
    registryId = registry.id;
    const password = generateSecret();
    await h.db.adminCredential.create({
      data: { registryId, name: 'password', encryptedValue: sealAdminPassword(new SecretBox(h.config.secretKey), registryId, 'password', password) },
    });
    authorization = `Basic ${Buffer.from(`${name}:${password}`).toString('base64')}`;
    gc = new BlobGcProcessor(new BlobGcRepository(h.db), h.store, silent, metrics, { graceSeconds: 0, batchSize: 50 });

    port = await freePort();
    child = spawn(process.execPath, ['-r', path.join(ROOT, 'scripts', 'register.js'), path.join(ROOT, 'apps', 'registry', 'src', 'main.ts')], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, ...h.env, REDIS_URL: SHARED_REDIS_URL, BERTH_DOMAIN: DOMAIN, REGISTRY_PORT: String(port), BERTH_TRUSTED_PROXIES: '' },
    });
    const deadline = Date.now() + 30_000;
    for (;;) {
      const up = await request('GET', '/healthz').then(
        (res) => res.status === 200,
        () => false,
      );
      if (up) break;
      if (child.exitCode !== null || Date.now() > deadline) throw new Error('the data plane did not start');
      await sleep(100);
    }
  }, 40_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await h?.close();
  });

  it('never breaks a push: each PUT succeeds with its blobs intact, or fails cleanly and succeeds after re-upload; usage stays exact', async () => {
    const outcomes = { accepted: 0, retried: 0 };
    /** How long an uncontended PUT takes here: GC starts at a random point within it. */
    let putMs = 20;
    for (let i = 0; i < ITERATIONS; i++) {
      const image = newImage(i);
      await upload(image.config);
      await upload(image.layer);
      // The grace period has passed (GC runs with grace 0 anyway; this also makes the blobs old by GC's own clock).
      await h.db.$executeRaw`
        UPDATE "Blob" SET "lastUsedAt" = now() - interval '1 hour'
        WHERE "registryId" = ${registryId}::uuid AND "digest" = ANY(${[image.config.digest, image.layer.digest]}::text[])`;

      const tag = `v${i}`;
      let put: Answer;
      if (i === 0) {
        // GC strictly first: the blobs are gone before the PUT looks.
        await gc.collectRegistry(registryId);
        put = await putManifest(tag, image.manifest);
      } else if (i === 1) {
        // The PUT strictly first: GC then sees the references.
        const started = Date.now();
        put = await putManifest(tag, image.manifest);
        putMs = Math.max(Date.now() - started, 2);
        await gc.collectRegistry(registryId);
      } else {
        // GC lands before the PUT's checks, between them and its transaction, or after its locks.
        const gcDelay = Math.random() * putMs * 1.5;
        [, put] = await Promise.all([sleep(gcDelay).then(() => gc.collectRegistry(registryId)), putManifest(tag, image.manifest)]);
      }

      if (put.status === 201) {
        outcomes.accepted++;
      } else {
        expect({ status: put.status, code: put.code }).toEqual({ status: 400, code: 'MANIFEST_BLOB_UNKNOWN' });
        outcomes.retried++;
        await upload(image.config);
        await upload(image.layer);
        const retry = await putManifest(tag, image.manifest);
        expect(retry.status).toBe(201);
      }
      await expectPullable(tag, image);
    }
    expect(outcomes.accepted + outcomes.retried).toBe(ITERATIONS);
    expect(outcomes.accepted).toBeGreaterThanOrEqual(1);
    expect(outcomes.retried).toBeGreaterThanOrEqual(1);

    // Everything left is referenced: another GC run deletes nothing.
    expect((await gc.collectRegistry(registryId)).blobs).toBe(0);

    // Usage equals the remaining blobs plus the distinct manifests, and every blob row has its bytes.
    const registry = await h.db.registry.findUniqueOrThrow({ where: { id: registryId } });
    const blobs = await h.db.blob.findMany({ where: { registryId } });
    const manifests = await h.db.manifest.findMany({ where: { registryId }, select: { digest: true, size: true } });
    const manifestBytes = [...new Map(manifests.map((m) => [m.digest, m.size])).values()].reduce((sum, size) => sum + BigInt(size), 0n);
    const blobBytes = blobs.reduce((sum, blob) => sum + blob.size, 0n);
    expect(registry.storageUsedBytes).toBe(blobBytes + manifestBytes);
    expect(blobs).toHaveLength(2 * ITERATIONS);
    for (const blob of blobs) expect(await h.store.stat(blob.storageKey)).toEqual({ size: Number(blob.size) });
  }, 60_000);
});
