import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import * as path from 'node:path';
import { BlobContent } from './blob-content';
import { runLoad } from './load';
import { buildImageLayout, type ImageLayout } from './oci-layout';
import { busyPercent, machineCpuTicks, runCommand, sampleRss } from './processes';
import { sha256, type RegistryClient, type Target } from './registry-client';
import type { Samples } from './report';
import { MIB, type Sizes, type WorkloadId } from './settings';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const REPO = {
  mono: 'bench/mono',
  chunked: 'bench/chunked',
  parallel: 'bench/parallel',
  hot: 'bench/hot',
  tagsLarge: 'bench/tags-large',
  tagsSmall: 'bench/tags-small',
  big: 'bench/big',
};

/** What the bench keeps per registry across rounds. */
export interface TargetState {
  client: RegistryClient;
  /** Set up once: a small image tagged `latest` in REPO.hot. */
  fixture?: { layerDigest: string };
  /** The blob the monolithic push wrote this round (pulled next). */
  lastMono?: BlobContent;
  tagsReady?: boolean;
  /** skopeo can reach this registry by name. */
  skopeoReady: boolean;
}

/**
 * The content of one round, shared by both registries so they receive the
 * same bytes; created lazily, digests computed before any clock starts.
 */
export class RoundData {
  private readonly contents = new Map<string, BlobContent[]>();
  private layout: Promise<ImageLayout> | undefined;

  constructor(
    readonly round: number,
    private readonly workDir: string,
    private readonly sizes: Sizes,
  ) {}

  blobs(key: string, size: number, count = 1): BlobContent[] {
    let list = this.contents.get(key);
    if (!list) {
      list = Array.from({ length: count }, () => new BlobContent(size));
      for (const content of list) content.digest();
      this.contents.set(key, list);
    }
    return list;
  }

  blob(key: string, size: number): BlobContent {
    return this.blobs(key, size)[0]!;
  }

  imageLayout(): Promise<ImageLayout> {
    this.layout ??= buildImageLayout(path.join(this.workDir, `image-r${this.round}`), this.sizes.skopeoLayer);
    return this.layout;
  }
}

export interface WorkloadContext {
  state: TargetState;
  data: RoundData;
  sizes: Sizes;
  samples: Samples;
  workDir: string;
  log: (line: string) => void;
}

const seconds = (startedMs: number) => (performance.now() - startedMs) / 1000;
const mibPerSecond = (bytes: number, startedMs: number) => bytes / MIB / seconds(startedMs);
const mib = (bytes: number) => bytes / MIB;

/**
 * A timed transfer: its throughput, and the share of all cores that were
 * busy meanwhile (bench client, registry, database and kernel together,
 * from /proc/stat; undefined off Linux). The busy share says whether the
 * machine had CPU to spare, which decides how close a push can come to the
 * disk's speed. Started after the blobs' digests are computed, so the
 * bench's own hashing does not count.
 */
class Transfer {
  private readonly startedMs = performance.now();
  private readonly machine = machineCpuTicks();

  stop(bytes: number): { mibps: number; busyPercent: number | undefined } {
    const mibps = mibPerSecond(bytes, this.startedMs);
    const after = machineCpuTicks();
    return { mibps, busyPercent: this.machine && after ? busyPercent(this.machine, after) : undefined };
  }
}

function addBusy(ctx: WorkloadContext, metric: string, busy: number | undefined): void {
  if (busy !== undefined) ctx.samples.add(metric, ctx.state.client.target.label, busy);
}

const busyText = (busy: number | undefined) => (busy === undefined ? '' : `, all cores ${busy.toFixed(0)}% busy`);

function fixtureImage(layer: Buffer): { config: Buffer; manifest: (configDigest: string, layerDigest: string, layerSize?: number) => Buffer } {
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [`sha256:${'0'.repeat(64)}`] } }),
  );
  return {
    config,
    manifest: (configDigest, layerDigest, layerSize = layer.length) =>
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
          layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layerSize }],
        }),
      ),
  };
}

/** Pushes the fixture blobs to `repository` and returns its manifest (not yet tagged). */
async function pushFixture(client: RegistryClient, repository: string, layer: Buffer): Promise<{ manifest: Buffer; layerDigest: string }> {
  const image = fixtureImage(layer);
  const configDigest = await client.pushBytes(repository, image.config);
  const layerDigest = await client.pushBytes(repository, layer);
  return { manifest: image.manifest(configDigest, layerDigest), layerDigest };
}

/** Runs `task` over `items` with at most `limit` in flight. */
async function eachLimited<T>(items: T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await task(items[next++]!);
    }),
  );
}

const tagName = (i: number) => `t${String(i).padStart(5, '0')}`;

/** One-off setup per registry (not measured): the hot image, and the tag-list repositories when needed. */
export async function setUpTarget(ctx: Omit<WorkloadContext, 'data'>, workloads: WorkloadId[]): Promise<void> {
  const { client } = ctx.state;
  const label = client.target.label;
  const layer = randomBytes(4096);
  if (workloads.includes('manifest-get') || workloads.includes('blob-head')) {
    const { manifest, layerDigest } = await pushFixture(client, REPO.hot, layer);
    await client.putManifest(REPO.hot, 'latest', manifest, OCI_MANIFEST);
    ctx.state.fixture = { layerDigest };
  }
  if (workloads.includes('tags')) {
    for (const [repository, count] of [
      [REPO.tagsLarge, ctx.sizes.tagCount],
      [REPO.tagsSmall, ctx.sizes.smallTagCount],
    ] as const) {
      const { manifest } = await pushFixture(client, repository, layer);
      const started = performance.now();
      const names = Array.from({ length: count }, (_, i) => tagName(i));
      await eachLimited(names, 32, (tag) => client.putManifest(repository, tag, manifest, OCI_MANIFEST));
      const rate = count / seconds(started);
      ctx.log(`  ${label}: tagged ${count} in ${repository} (${rate.toFixed(0)} manifest PUTs/s, 32 in flight)`);
      if (count === ctx.sizes.tagCount) {
        ctx.samples.note(`Setup (not in the table): ${label} took ${count} manifest PUTs under new tags at ${rate.toFixed(0)}/s with 32 in flight.`);
      }
    }
    ctx.state.tagsReady = true;
  }
}

/**
 * Unmeasured warm-ups of a registry, run after every registry's fixtures are
 * in and the database analysed (run.ts), right before round 1. When they ran
 * right after each registry's own fixtures instead, Berth's warm-up burst was
 * followed by Distribution's 10,000 manifest PUTs and then by the ANALYZE,
 * which invalidates the cached plans of every pool connection: Berth's
 * measured round-1 burst then cost 280–360 ms of PostgreSQL CPU against
 * 100–150 ms in round 2 (130–170 ms in round 1 in this order).
 */
export async function warmUpTarget(ctx: Omit<WorkloadContext, 'data'>, workloads: WorkloadId[]): Promise<void> {
  const { client } = ctx.state;
  const label = client.target.label;
  if (workloads.includes('push-parallel')) {
    // The first burst of concurrent pushes after a start is the slowest for
    // both (Berth opens database connections beyond its warm minimum and
    // first touches the memory its 20 streams buffer in: ~28k page faults,
    // RSS +75 MiB; Go grows its heap). One unmeasured burst of the measured
    // size per registry, so round 1 measures the steady state a registry
    // that has been up for a while runs in, as the later rounds do. With a
    // burst of 16 KiB blobs instead, Berth's round 1 measured 184–267 MiB/s
    // and its later rounds 266–496, Distribution's steady at 238–384.
    const warmUp = Array.from({ length: ctx.sizes.parallelCount }, () => new BlobContent(ctx.sizes.parallelBlob));
    await Promise.all(warmUp.map((content) => client.pushMonolithic(REPO.parallel, content)));
  }
  if (workloads.includes('skopeo') && ctx.state.skopeoReady) {
    // skopeo's first run is slower whatever the registry (binary and its
    // files cold): one unmeasured round trip of a tiny image per registry.
    const layout = await buildImageLayout(path.join(ctx.workDir, `image-warm-up-${label}`), 1024);
    await skopeoRoundTrip(client.target, layout, 'skopeo/warm-up', ctx.workDir);
  }
}

async function timedPush(
  ctx: WorkloadContext,
  kind: 'mono' | 'chunked',
  repository: string,
  content: BlobContent,
): Promise<{ mibps: number; busyPercent: number | undefined; peakMiB: number; startMiB: number }> {
  const { client } = ctx.state;
  const rss = sampleRss(client.target.pid);
  const transfer = new Transfer();
  let memory: { peakBytes: number; startBytes: number };
  try {
    if (kind === 'mono') await client.pushMonolithic(repository, content);
    else await client.pushChunked(repository, content, ctx.sizes.chunk);
  } finally {
    memory = rss.stop();
  }
  return { ...transfer.stop(content.size), peakMiB: mib(memory.peakBytes), startMiB: mib(memory.startBytes) };
}

async function firstPageMs(client: RegistryClient, repository: string, pageSize: number): Promise<number> {
  const pathOf = `/v2/${repository}/tags/list?n=${pageSize}`;
  for (let i = 0; i < 3; i += 1) await client.listTags(pathOf, repository);
  const times: number[] = [];
  for (let i = 0; i < 20; i += 1) {
    const started = performance.now();
    await client.listTags(pathOf, repository);
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return (times[9]! + times[10]!) / 2;
}

async function skopeo(args: string[]): Promise<number> {
  const started = performance.now();
  await runCommand('skopeo', ['--insecure-policy', ...args]);
  return seconds(started);
}

/** `skopeo copy` of `layout` into `repository` of the target and back out to a fresh layout; wall times in seconds. */
async function skopeoRoundTrip(target: Target, layout: ImageLayout, repository: string, workDir: string): Promise<{ copyIn: number; copyOut: number }> {
  const reference = `${target.host}/${repository}:${layout.reference}`;
  const creds = target.credentials ? `${target.credentials.username}:${target.credentials.password}` : undefined;
  const copyIn = await skopeo(['copy', '--dest-tls-verify=false', ...(creds ? ['--dest-creds', creds] : []), `oci:${layout.dir}:${layout.reference}`, `docker://${reference}`]);
  const out = await mkdtemp(path.join(workDir, 'skopeo-out-'));
  try {
    const copyOut = await skopeo(['copy', '--src-tls-verify=false', ...(creds ? ['--src-creds', creds] : []), `docker://${reference}`, `oci:${out}:${layout.reference}`]);
    return { copyIn, copyOut };
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

/**
 * Workloads whose server CPU time is also reported, per MiB moved: the
 * metric and the bytes one run of the workload transfers.
 */
export const CPU_PER_MIB: Partial<Record<WorkloadId, { metric: string; bytes: (sizes: Sizes) => number }>> = {
  'push-mono': { metric: 'cpu.push.mono', bytes: (sizes) => sizes.bigBlob },
  'push-chunked': { metric: 'cpu.push.chunked', bytes: (sizes) => sizes.bigBlob },
  pull: { metric: 'cpu.pull', bytes: (sizes) => sizes.bigBlob },
  'push-parallel': { metric: 'cpu.push.parallel', bytes: (sizes) => sizes.parallelBlob * sizes.parallelCount },
};

/**
 * Push workloads whose throughput is also compared with the disk measured
 * next to them: each round, between the two registries, the bench writes
 * and fsyncs the same number of bytes split over the same number of files
 * (bench/limits.ts `writeAndSync`), and those medians are the disk limit of
 * the listed metrics. On this VM one write of the same size measured from
 * 253 to 1,570 MiB/s depending on what ran before it (mostly how full the
 * page cache was, which the bench now resets before each measurement: see
 * settleDisks in run.ts; and a 1 GiB write is slower than a 256 MiB one), so
 * a probe at the start of the run says little about the disk a push met.
 */
export const DISK_TWINS: Partial<Record<WorkloadId, { metrics: string[]; bytes: (sizes: Sizes) => number; files: (sizes: Sizes) => number }>> = {
  'push-mono': { metrics: ['push.mono'], bytes: (sizes) => sizes.bigBlob, files: () => 1 },
  'push-chunked': { metrics: ['push.chunked'], bytes: (sizes) => sizes.bigBlob, files: () => 1 },
  'push-parallel': { metrics: ['push.parallel'], bytes: (sizes) => sizes.parallelBlob * sizes.parallelCount, files: (sizes) => sizes.parallelCount },
  'rss-1g': { metrics: ['push.mono.huge', 'push.chunked.huge'], bytes: (sizes) => sizes.hugeBlob, files: () => 1 },
};

/** Bytes one registry keeps on disk per round for each workload (small ones rounded up), for the free-space check. */
const STORED_PER_ROUND: Record<WorkloadId, (sizes: Sizes) => number> = {
  'push-mono': (sizes) => sizes.bigBlob,
  'push-chunked': (sizes) => sizes.bigBlob,
  pull: () => 0, // the monolithic push's blob (or one more of that size, counted below when push-mono does not run)
  'push-parallel': (sizes) => sizes.parallelBlob * sizes.parallelCount,
  'manifest-get': () => 0,
  'blob-head': () => 0,
  tags: () => 0,
  'rss-1g': (sizes) => 2 * sizes.hugeBlob,
  skopeo: (sizes) => 2 * 3 * sizes.skopeoLayer, // in the registry and in the copied-out layout
  'small-push': (sizes) => 64 * sizes.smallLayer,
};

/**
 * Disk space a run needs in its work dir: everything the registries and the
 * writes next to the pushes keep until the run ends, plus a tenth and 1 GiB.
 */
export function diskSpaceNeeded(workloads: WorkloadId[], sizes: Sizes, rounds: number, diskNextToPush: boolean): number {
  let perRound = 0;
  for (const workload of workloads) {
    perRound += 2 * STORED_PER_ROUND[workload](sizes);
    if (diskNextToPush) perRound += DISK_TWINS[workload]?.bytes(sizes) ?? 0;
  }
  if (workloads.includes('pull') && !workloads.includes('push-mono')) perRound += 2 * sizes.bigBlob;
  // The parallel pushes' warm-up burst (warmUpTarget), once per registry.
  const warmUps = workloads.includes('push-parallel') ? 2 * STORED_PER_ROUND['push-parallel'](sizes) : 0;
  return Math.ceil((rounds * perRound + warmUps) * 1.1) + 1024 * MIB;
}

/**
 * Unmeasured work run right before a workload, after the page cache was
 * dropped and before its clock and CPU counters start.
 */
export const WARM_UPS: Partial<Record<WorkloadId, (ctx: WorkloadContext) => Promise<void>>> = {
  /** The blob to pull (the monolithic push's, else a new one), read once so it is served from memory, as a hot layer is. */
  async pull(ctx) {
    const { client } = ctx.state;
    let content = ctx.state.lastMono;
    if (!content) {
      content = ctx.data.blob('mono', ctx.sizes.bigBlob);
      await client.pushMonolithic(REPO.mono, content);
      ctx.state.lastMono = content;
    }
    await client.pullVerified(REPO.mono, content.digest(), content.size);
  },
};

/** Each workload measures one registry once and adds its samples. */
export const WORKLOADS: Record<WorkloadId, (ctx: WorkloadContext) => Promise<string>> = {
  async 'push-mono'(ctx) {
    const content = ctx.data.blob('mono', ctx.sizes.bigBlob);
    const result = await timedPush(ctx, 'mono', REPO.mono, content);
    ctx.state.lastMono = content;
    ctx.samples.add('push.mono', ctx.state.client.target.label, result.mibps);
    ctx.samples.add('rss.mono.big', ctx.state.client.target.label, result.peakMiB);
    ctx.samples.add('rss.growth.big', ctx.state.client.target.label, result.peakMiB - result.startMiB);
    addBusy(ctx, 'busy.push.mono', result.busyPercent);
    return `${result.mibps.toFixed(1)} MiB/s, peak RSS ${result.peakMiB.toFixed(1)} MiB${busyText(result.busyPercent)}`;
  },

  async 'push-chunked'(ctx) {
    const content = ctx.data.blob('chunked', ctx.sizes.bigBlob);
    const result = await timedPush(ctx, 'chunked', REPO.chunked, content);
    ctx.samples.add('push.chunked', ctx.state.client.target.label, result.mibps);
    addBusy(ctx, 'busy.push.chunked', result.busyPercent);
    return `${result.mibps.toFixed(1)} MiB/s${busyText(result.busyPercent)}`;
  },

  async pull(ctx) {
    const { client } = ctx.state;
    const content = ctx.state.lastMono;
    if (!content) throw new Error('the pull has no blob: its warm-up (WARM_UPS.pull) did not run');
    const digest = content.digest();
    const transfer = new Transfer();
    await client.pullVerified(REPO.mono, digest, content.size);
    const { mibps, busyPercent: busy } = transfer.stop(content.size);
    ctx.samples.add('pull', client.target.label, mibps);
    addBusy(ctx, 'busy.pull', busy);
    return `${mibps.toFixed(1)} MiB/s${busyText(busy)}`;
  },

  async 'push-parallel'(ctx) {
    const { client } = ctx.state;
    const contents = ctx.data.blobs('parallel', ctx.sizes.parallelBlob, ctx.sizes.parallelCount);
    const transfer = new Transfer();
    await Promise.all(contents.map((content) => client.pushMonolithic(REPO.parallel, content)));
    const { mibps, busyPercent: busy } = transfer.stop(contents.reduce((sum, c) => sum + c.size, 0));
    ctx.samples.add('push.parallel', client.target.label, mibps);
    addBusy(ctx, 'busy.push.parallel', busy);
    return `${mibps.toFixed(1)} MiB/s${busyText(busy)}`;
  },

  async 'manifest-get'(ctx) {
    const { client } = ctx.state;
    const result = await runLoad(client, 'GET', `/v2/${REPO.hot}/manifests/latest`, `repository:${REPO.hot}:pull`, {
      clients: ctx.sizes.loadClients,
      seconds: ctx.sizes.loadSeconds,
      accept: client.manifestAccept(),
    });
    const label = client.target.label;
    if (result.errors > 0) ctx.samples.note(`${label} answered ${result.errors} manifest GETs with a non-200 status (not counted).`);
    if (result.requests === 0) throw new Error(`${label}: no manifest GET succeeded`);
    ctx.samples.add('manifest.rps', label, result.requestsPerSecond);
    ctx.samples.add('manifest.p50', label, result.p50Ms);
    ctx.samples.add('manifest.p99', label, result.p99Ms);
    return `${result.requestsPerSecond.toFixed(0)} req/s, p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms`;
  },

  async 'blob-head'(ctx) {
    const { client } = ctx.state;
    const digest = ctx.state.fixture!.layerDigest;
    const result = await runLoad(client, 'HEAD', `/v2/${REPO.hot}/blobs/${digest}`, `repository:${REPO.hot}:pull`, {
      clients: ctx.sizes.loadClients,
      seconds: ctx.sizes.loadSeconds,
    });
    const label = client.target.label;
    if (result.errors > 0) ctx.samples.note(`${label} answered ${result.errors} blob HEADs with a non-200 status (not counted).`);
    if (result.requests === 0) throw new Error(`${label}: no blob HEAD succeeded`);
    ctx.samples.add('head.rps', label, result.requestsPerSecond);
    ctx.samples.add('head.p50', label, result.p50Ms);
    ctx.samples.add('head.p99', label, result.p99Ms);
    return `${result.requestsPerSecond.toFixed(0)} req/s, p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms`;
  },

  async tags(ctx) {
    const { client } = ctx.state;
    const label = client.target.label;
    const pageSize = ctx.sizes.tagPageSize;
    const large = await firstPageMs(client, REPO.tagsLarge, pageSize);
    const small = await firstPageMs(client, REPO.tagsSmall, pageSize);
    const started = performance.now();
    let next: string | undefined = `/v2/${REPO.tagsLarge}/tags/list?n=${pageSize}`;
    let pages = 0;
    const seen = new Set<string>();
    while (next) {
      const page: { tags: string[]; next: string | undefined } = await client.listTags(next, REPO.tagsLarge);
      for (const tag of page.tags) seen.add(tag);
      pages += 1;
      next = page.next;
      if (pages > ctx.sizes.tagCount + 1) throw new Error(`${label}: tag pagination does not end`);
    }
    const allMs = performance.now() - started;
    if (seen.size !== ctx.sizes.tagCount) throw new Error(`${label}: listed ${seen.size} tags, expected ${ctx.sizes.tagCount}`);
    const firstPageSize = (await client.listTags(`/v2/${REPO.tagsLarge}/tags/list?n=${pageSize}`, REPO.tagsLarge)).tags.length;
    ctx.samples.note(
      `${label}: \`tags/list?n=${pageSize}\` on ${ctx.sizes.tagCount} tags returned ${firstPageSize} tags on the first page; walking the Link headers took ${pages} request(s).`,
    );
    ctx.samples.add('tags.first.large', label, large);
    ctx.samples.add('tags.first.small', label, small);
    ctx.samples.add('tags.all.large', label, allMs);
    return `first page ${large.toFixed(2)} ms (${small.toFixed(2)} ms at ${ctx.sizes.smallTagCount} tags), all ${pages} page(s) ${allMs.toFixed(1)} ms`;
  },

  async 'rss-1g'(ctx) {
    const label = ctx.state.client.target.label;
    const mono = await timedPush(ctx, 'mono', REPO.big, ctx.data.blob('huge-mono', ctx.sizes.hugeBlob));
    ctx.samples.add('rss.idle', label, mono.startMiB);
    ctx.samples.add('rss.mono.huge', label, mono.peakMiB);
    ctx.samples.add('rss.growth.huge', label, mono.peakMiB - mono.startMiB);
    ctx.samples.add('push.mono.huge', label, mono.mibps);
    const chunked = await timedPush(ctx, 'chunked', REPO.big, ctx.data.blob('huge-chunked', ctx.sizes.hugeBlob));
    ctx.samples.add('rss.chunked.huge', label, chunked.peakMiB);
    ctx.samples.add('push.chunked.huge', label, chunked.mibps);
    return `monolithic ${mono.mibps.toFixed(1)} MiB/s peak ${mono.peakMiB.toFixed(1)} MiB; chunked ${chunked.mibps.toFixed(1)} MiB/s peak ${chunked.peakMiB.toFixed(1)} MiB`;
  },

  async skopeo(ctx) {
    const { client } = ctx.state;
    const target = client.target;
    if (!ctx.state.skopeoReady) return 'skipped';
    const layout = await ctx.data.imageLayout();
    const { copyIn, copyOut } = await skopeoRoundTrip(target, layout, `skopeo/r${ctx.data.round}`, ctx.workDir);
    ctx.samples.add('skopeo.in', target.label, copyIn);
    ctx.samples.add('skopeo.out', target.label, copyOut);
    return `in ${copyIn.toFixed(2)} s, out ${copyOut.toFixed(2)} s (${mib(layout.totalBytes).toFixed(1)} MiB)`;
  },

  /**
   * Per-request latency of what a client does for every layer and image,
   * where the per-request metadata work shows (not bandwidth): sequential
   * pushes of a small image, each a new layer through POST, one PATCH and an
   * empty PUT ?digest, then its manifest under a new tag.
   */
  async 'small-push'(ctx) {
    const { client } = ctx.state;
    const label = client.target.label;
    const repository = `bench/small-r${ctx.data.round}`;
    const image = fixtureImage(randomBytes(ctx.sizes.smallLayer));
    const configDigest = await client.pushBytes(repository, image.config);
    const times: Record<'post' | 'patch' | 'put' | 'manifest', number[]> = { post: [], patch: [], put: [], manifest: [] };
    const timed = async <T>(into: number[], step: () => Promise<T>): Promise<T> => {
      const started = performance.now();
      const value = await step();
      into.push(performance.now() - started);
      return value;
    };
    for (let i = 0; i < ctx.sizes.smallPushes; i += 1) {
      const layer = randomBytes(ctx.sizes.smallLayer);
      const layerDigest = sha256(layer);
      const started = await timed(times.post, () => client.startUpload(repository));
      const patched = await timed(times.patch, () => client.patchUpload(started, repository, 0, layer.length, layer));
      await timed(times.put, () => client.finishUpload(patched, repository, layerDigest));
      const manifest = image.manifest(configDigest, layerDigest, layer.length);
      await timed(times.manifest, () => client.putManifest(repository, `s${i}`, manifest, OCI_MANIFEST));
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    ctx.samples.add('small.post', label, median(times.post));
    ctx.samples.add('small.patch', label, median(times.patch));
    ctx.samples.add('small.put', label, median(times.put));
    ctx.samples.add('small.manifest', label, median(times.manifest));
    return `POST ${median(times.post).toFixed(2)} ms, PATCH ${median(times.patch).toFixed(2)} ms, PUT ${median(times.put).toFixed(2)} ms, manifest PUT ${median(times.manifest).toFixed(2)} ms (medians of ${ctx.sizes.smallPushes})`;
  },
};
