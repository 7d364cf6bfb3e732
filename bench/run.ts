// `npm run bench`: Berth against CNCF Distribution on this machine, same
// workloads, alternating, several rounds; writes bench/RESULTS.md and prints
// the table. Settings: BENCH_ROUNDS (default 3), BENCH_SCALE (default 1;
// e.g. 0.05 for a quick smoke run), BENCH_WORKLOADS (comma list, default
// all), BENCH_RESULTS (output file; empty = none), BENCH_CPU_PROF=1 (data
// plane under --cpu-prof, profiles in bench/.work/profiles), BENCH_LIMITS=0
// (skip the machine-limit measurements), BENCH_TMPDIR (where data goes),
// BENCH_BERTH_LOG_LEVEL (default warn), BENCH_BERTH_NODE_FLAGS (extra Node
// flags for the data plane, for experiments).
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, statfs, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { REGISTRY_ENV, REGISTRY_NODE_FLAGS, REGISTRY_NODE_OPTIONS } from '../apps/registry/src/node-options';
import { analyzeDatabase, autovacuumSetting, startBerth } from './berth';
import { DISTRIBUTION_BINARY, startDistribution } from './distribution';
import { writeFlameGraphs } from './flamegraph';
import { addHostsEntry } from './hosts-file';
import { measureLimits, writeAndSync, type MachineLimits } from './limits';
import { Cleanup, cpuSeconds, pidsNamed, residentBytes, runCommand } from './processes';
import { RegistryClient, type Target } from './registry-client';
import { checkTargets, markdownReport, plainTable, Samples, summarise, type SummaryRow, type TargetCheck } from './report';
import { formatBytes, MIB, settingsFromEnv, sizesFor, type BenchSettings, type Sizes, type WorkloadId } from './settings';
import { CPU_PER_MIB, DISK_TWINS, diskSpaceNeeded, RoundData, setUpTarget, WARM_UPS, warmUpTarget, WORKLOADS, type TargetState } from './workloads';

export interface BenchOutcome {
  rows: SummaryRow[];
  checks: TargetCheck[];
  samples: Samples;
  limits: MachineLimits | undefined;
  table: string;
  markdown: string;
  /** What the run created (all gone by the time runBench returns). */
  started: { workDir: string; databaseName: string; pids: number[] };
}

async function commandVersion(command: string, args: string[]): Promise<string> {
  try {
    return (await runCommand(command, args)).stdout.trim().split('\n')[0] ?? 'unknown';
  } catch {
    return 'not available';
  }
}

async function describeMachine(): Promise<Array<[string, string]>> {
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpu;
  } catch {
    // not Linux: keep os.cpus()'s answer
  }
  return [
    ['CPU', cpu],
    ['Cores', String(os.cpus().length)],
    ['Memory', `${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB`],
    ['OS', `${os.type()} ${os.release()} (${os.arch()})`],
    ['Node.js', process.version],
    ['Distribution', await commandVersion(DISTRIBUTION_BINARY, ['--version'])],
    ['skopeo', await commandVersion('skopeo', ['--version'])],
    ['Database', await autovacuumSetting().catch(() => 'unknown')],
  ];
}

function describeSettings(settings: BenchSettings, sizes: Sizes, targets: Target[], skopeoNote: string, pageCacheKept: boolean): Array<[string, string]> {
  const size = formatBytes;
  return [
    ['Rounds', `${settings.rounds} (BENCH_ROUNDS); the table shows medians; the registries alternate which goes first each round`],
    ['Scale', `${settings.scale} (BENCH_SCALE)`],
    ['Workloads', settings.workloads.join(', ')],
    [
      'Sizes',
      `big blob ${size(sizes.bigBlob)} (chunks of ${size(sizes.chunk)}), ${sizes.parallelCount} × ${size(sizes.parallelBlob)} in parallel, ` +
        `memory test ${size(sizes.hugeBlob)}, ${sizes.tagCount} tags (pages of ${sizes.tagPageSize}), skopeo image 3 × ${size(sizes.skopeoLayer)} random layers`,
    ],
    ['Load tests', `${sizes.loadClients} concurrent clients on keep-alive connections for ${sizes.loadSeconds} s (after a short warm-up)`],
    ['Warm-up', `after every registry's fixtures and the ANALYZE, right before round 1, each registry takes one unmeasured burst of ${sizes.parallelCount} parallel pushes of ${size(sizes.parallelBlob)} blobs (the measured burst) and one skopeo round trip of a tiny image (when those workloads run)`],
    ...targets.map((t): [string, string] => [`${t.label} auth`, t.authDescription]),
    [
      'Berth',
      `data plane and management API as separate processes (production build: node scripts/build.mjs, then node dist/apps/<app>/src/main.js, NODE_ENV=production, LOG_LEVEL=${settings.berthLogLevel}; ` +
        `the data plane with the registry image's Node options ${[REGISTRY_NODE_OPTIONS, ...REGISTRY_NODE_FLAGS, ...settings.berthNodeFlags].join(' ')} ` +
        `and environment ${Object.entries(REGISTRY_ENV).map(([k, v]) => `${k}=${v}`).join(' ')}), ` +
        'filesystem storage, fresh migrated PostgreSQL database, local Redis; a Premium registry with the admin user created through the management API ' +
        '(then the management API is stopped); ANALYZE once after the fixtures are in (what autovacuum would do on its own); SKU operation limits raised to 2,000,000,000/min in the throw-away database so throttling never answers 429 ' +
        '(the limiter still counts every request); the worker is not running',
    ],
    ['Distribution', 'docker-registry serve with filesystem storage, inmemory blob descriptor cache, log level warn, access log off, no upload purging'],
    [
      'Client',
      'Node http with keep-alive agents in the bench process, on 127.0.0.1 with the registry\'s Host header; blob bytes generated on the fly, digests computed before timing; the pull reads its own connection into one reused 1 MiB buffer and hashes as it reads (bench/verified-download.ts), as Go clients do, after one unmeasured pull of the same blob (so it is served from memory)',
    ],
    [
      'Disk',
      '`sync` before every measurement, so pages one registry left unflushed are not written back on the next one\'s clock (Berth fsyncs each blob before answering 201; Distribution does not), then the clean page cache is dropped (`/proc/sys/vm/drop_caches`), so no measurement pays for evicting the blobs earlier ones wrote' +
        (pageCacheKept ? ' — **not possible in this run** (not root?): later rounds ran on a full page cache and are slower for both registries' : '') +
        (settings.measureLimits ? '; in each push workload the bench also writes and fsyncs the same bytes as plain files between the two registries (the disk limit of that push; see Machine limits)' : ''),
    ],
    [
      'Server CPU',
      'user + system time from /proc over each measurement: the registry process with all its threads, and for Berth every postgres process too; ' +
        'writeback by the kernel\'s flusher threads (all of Distribution\'s, which does not fsync) is counted for neither',
    ],
    ['skopeo', skopeoNote],
  ];
}

/** Prints the last lines of every log in the work dir: called on failure, before cleanup removes them. */
async function dumpLogs(workDir: string, log: (line: string) => void): Promise<void> {
  for (const name of (await readdir(workDir).catch(() => [])).filter((n) => n.endsWith('.log'))) {
    const text = (await readFile(path.join(workDir, name), 'utf8').catch(() => '')).trimEnd();
    if (text) log(`--- ${name} (last lines) ---\n${text.split('\n').slice(-25).join('\n')}`);
  }
}

/**
 * Runs the whole benchmark and returns the summary; everything it starts is
 * undone through `cleanup` before it returns or throws.
 */
export async function runBench(settings: BenchSettings, cleanup = new Cleanup(settings.log)): Promise<BenchOutcome> {
  const log = settings.log;
  const sizes = { ...sizesFor(settings.scale), ...settings.sizeOverrides };
  const loadAtStart = os.loadavg();
  const began = performance.now();
  const workDir = await mkdtemp(path.join(process.env.BENCH_TMPDIR ?? os.tmpdir(), 'berth-bench-'));
  // Many GiB of blobs: removing them takes a while on a slow file system.
  cleanup.add('remove the work dir', () => rm(workDir, { recursive: true, force: true }), 15 * 60_000);
  try {
    await assertDiskSpace(workDir, diskSpaceNeeded(settings.workloads, sizes, settings.rounds, settings.measureLimits));
    const machine = await describeMachine();
    let limits: MachineLimits | undefined;
    let pageCacheKept = false;
    if (settings.measureLimits) {
      log('• measuring machine limits');
      if (!(await settleDisks())) pageCacheKept = true;
      limits = await measureLimits(
        workDir,
        { hash: sizes.limitHashBytes, disk: sizes.limitDiskBytes, http: sizes.limitHttpBytes, clients: sizes.loadClients, seconds: sizes.loadSeconds },
        cleanup,
      );
      log(
        `  sha256 ${limits.sha256MiBps.toFixed(0)} MiB/s, disk ${limits.diskWriteMiBps.toFixed(0)} MiB/s, ` +
          `loopback HTTP ${limits.loopbackHttpMiBps.toFixed(0)} MiB/s, verified download ${limits.verifiedDownloadMiBps.toFixed(0)} MiB/s, trivial server ${limits.loopbackRequestsPerSecond.toFixed(0)} req/s`,
      );
    }

    log('• starting Distribution');
    const distribution = await startDistribution(workDir, cleanup);
    const berth = await startBerth(workDir, cleanup, {
      cpuProfileDir: settings.cpuProfileDir,
      logLevel: settings.berthLogLevel,
      nodeFlags: settings.berthNodeFlags,
      log,
    });
    const targets: Target[] = [berth, distribution];
    const samples = new Samples();
    const states = new Map<Target, TargetState>();
    for (const target of targets) {
      const client = new RegistryClient(target);
      cleanup.add(`close ${target.label} client`, () => client.close());
      states.set(target, { client, skopeoReady: true });
    }

    let skopeoNote = 'not run';
    if (settings.workloads.includes('skopeo')) {
      const hostname = berth.host.slice(0, berth.host.lastIndexOf(':'));
      if (await addHostsEntry(hostname, cleanup)) {
        skopeoNote = `\`skopeo copy\` (--insecure-policy, plain HTTP) from an OCI layout to the registry and back to a fresh OCI layout; ${hostname} mapped to 127.0.0.1 in /etc/hosts for the run`;
      } else {
        skopeoNote = `skipped: /etc/hosts is not writable, so skopeo cannot resolve ${hostname}`;
        log(`• ${skopeoNote}`);
        for (const state of states.values()) state.skopeoReady = false;
      }
    }

    const idle = (pid: number) => `${((residentBytes(pid) ?? NaN) / 1024 / 1024).toFixed(1)} MiB`;
    samples.note(`Data-plane RSS right after start, before any request: Berth ${idle(berth.pid)}, Distribution ${idle(distribution.pid)}.`);

    log('• setting up fixtures');
    const setUpContext = (target: Target) => ({ state: states.get(target)!, sizes, samples, workDir, log });
    for (const target of targets) await setUpTarget(setUpContext(target), settings.workloads);
    await analyzeDatabase(berth.databaseUrl);
    for (const target of targets) await warmUpTarget(setUpContext(target), settings.workloads);

    for (let round = 1; round <= settings.rounds; round += 1) {
      const data = new RoundData(round, workDir, sizes);
      const order = round % 2 === 1 ? targets : [...targets].reverse();
      log(`• round ${round}/${settings.rounds} (${order.map((t) => t.label).join(' first, then ')})`);
      for (const workload of settings.workloads) {
        for (const [position, target] of order.entries()) {
          if (position === 1) await diskNextToPush(workload, { round, sizes, samples, workDir, log, enabled: settings.measureLimits });
          const state = states.get(target)!;
          // Every measurement starts with nothing left for the disk to write
          // (unflushed pages of the previous one, which a registry that does
          // not fsync leaves behind, would be written back on the next one's
          // clock) and with no clean page cache to evict (see settleDisks).
          if (!(await settleDisks())) pageCacheKept = true;
          const workloadContext = { state, data, sizes, samples, workDir, log };
          await WARM_UPS[workload]?.(workloadContext);
          // Berth's work includes its database's: every postgres process counts (the bench's database is the only busy one).
          const cpu = CPU_PER_MIB[workload];
          const serverPids = () => (target === berth ? [berth.pid, ...pidsNamed('postgres')] : [target.pid]);
          const cpuBefore = cpu && cpuSeconds(serverPids());
          const summary = await WORKLOADS[workload](workloadContext);
          const cpuAfter = cpu && cpuSeconds(serverPids());
          let cpuText = '';
          if (cpu && cpuBefore !== undefined && cpuAfter !== undefined) {
            const msPerMiB = ((cpuAfter - cpuBefore) * 1000) / (cpu.bytes(sizes) / MIB);
            samples.add(cpu.metric, target.label, msPerMiB);
            cpuText = `, server CPU ${msPerMiB.toFixed(2)} ms/MiB`;
          }
          log(`  ${workload.padEnd(14)} ${target.label.padEnd(12)} ${summary}${cpuText}`);
        }
      }
      for (const state of states.values()) state.lastMono = undefined;
      await rm(path.join(workDir, `image-r${round}`), { recursive: true, force: true });
    }
    for (const target of targets) {
      const fetches = states.get(target)!.client.tokenFetches;
      if (fetches > 0) samples.note(`${target.label}: the client fetched ${fetches} access token(s) over the run (one per scope, again shortly before expiry).`);
      const resent = states.get(target)!.client.staleConnectionRetries;
      if (resent > 0) samples.note(`${target.label}: ${resent} request(s) were sent again because the keep-alive connection reused for them had been closed by the server.`);
    }

    const rows = summarise(samples, limits, sizes);
    const loadAtEnd = os.loadavg();
    const loadText = (l: number[]) => l.map((v) => v.toFixed(2)).join(' / ');
    machine.push([
      'Load average (1/5/15 min)',
      `${loadText(loadAtStart)} at start, ${loadText(loadAtEnd)} at the end — anything else running on the machine shows up in these numbers`,
    ]);
    const context = {
      date: new Date(),
      sizes,
      machine,
      settings: describeSettings(settings, sizes, targets, skopeoNote, pageCacheKept),
      limits,
      durationSeconds: (performance.now() - began) / 1000,
    };
    const markdown = markdownReport(rows, samples, context);
    const started = { workDir, databaseName: berth.databaseName, pids: [...berth.pids, distribution.pid] };
    return { rows, checks: checkTargets(rows, sizes), samples, limits, table: plainTable(rows), markdown, started };
  } catch (error) {
    if (!cleanup.started) await dumpLogs(workDir, log);
    throw error;
  } finally {
    await cleanup.run();
  }
}

/**
 * For a push workload listed in DISK_TWINS, and when machine limits are
 * measured: writes and fsyncs the workload's bytes as plain files, between
 * the two registries (so each round one registry goes right before it and
 * the other right after), after the same `sync` as every measurement. The
 * files stay until the run ends, as the registries' blobs do, so the file
 * system hands the next writer fresh space either way.
 */
async function diskNextToPush(
  workload: WorkloadId,
  ctx: { round: number; sizes: Sizes; samples: Samples; workDir: string; log: (line: string) => void; enabled: boolean },
): Promise<void> {
  const twin = DISK_TWINS[workload];
  if (!twin || !ctx.enabled) return;
  await settleDisks();
  const bytes = twin.bytes(ctx.sizes);
  const files = twin.files(ctx.sizes);
  const mibps = await writeAndSync(path.join(ctx.workDir, 'disk-next-to-push'), `r${ctx.round}-${workload}`, bytes, files);
  for (const metric of twin.metrics) ctx.samples.addDiskNextToPush(metric, mibps);
  ctx.log(`  ${workload.padEnd(14)} ${'disk'.padEnd(12)} ${mibps.toFixed(1)} MiB/s (write + fsync of the same bytes in ${files} file(s))`);
}

/**
 * Refuses to start when the work dir's file system has less free space than
 * the run will fill: a registry that runs out of disk mid-run answers 503 and
 * the whole run is lost.
 */
async function assertDiskSpace(workDir: string, needed: number): Promise<void> {
  const fs = await statfs(workDir);
  const free = fs.bavail * fs.bsize;
  if (free < needed) {
    const gib = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
    throw new Error(
      `the bench needs about ${gib(needed)} free in ${path.dirname(workDir)} for this run's blobs, and ${gib(free)} is free: ` +
        'free some space, point BENCH_TMPDIR at a bigger file system, or run fewer rounds (BENCH_ROUNDS) or a smaller scale (BENCH_SCALE)',
    );
  }
}

/**
 * Puts the machine's page cache in the same state before every measurement:
 * `sync` writes every dirty page to disk and waits for it, then the clean
 * page cache is dropped (needs root; returns false when that was refused).
 * Without the drop, each round ran on a page cache filled with the GiBs of
 * blobs the earlier rounds wrote, and finding room for new pages cost both
 * registries alike: server CPU per MiB pushed doubled from round 2 on
 * (2.8–3.5 → 5.6–6.8 ms/MiB for both) and a plain 256 MiB write + fsync
 * fell from 1,100–1,500 to 270–480 MiB/s, so results depended on the order
 * the workloads ran in.
 */
async function settleDisks(): Promise<boolean> {
  await runCommand('sync', []);
  try {
    await writeFile('/proc/sys/vm/drop_caches', '1');
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  const settings = settingsFromEnv(process.env, {
    resultsPath: path.join(__dirname, 'RESULTS.md'),
    profileDir: path.join(__dirname, '.work', 'profiles'),
  });
  const cleanup = new Cleanup(settings.log);
  let interrupted = false;
  const stop = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    settings.log(`\n${signal}: stopping everything the bench started…`);
    void cleanup.run().finally(() => process.exit(130));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  const outcome = await runBench(settings, cleanup);
  process.stdout.write(`\n${outcome.table}\n\n`);
  for (const check of outcome.checks) {
    process.stdout.write(`${check.met === undefined ? '—' : check.met ? 'met    ' : 'NOT met'}  ${check.target} (${check.detail})\n`);
  }
  if (settings.resultsPath) {
    await writeFile(settings.resultsPath, outcome.markdown);
    process.stdout.write(`\nwritten to ${path.relative(process.cwd(), settings.resultsPath)}\n`);
  }
  if (settings.cpuProfileDir) {
    // The data plane wrote its profile as it exited (cleanup stopped it).
    const graphs = await writeFlameGraphs(settings.cpuProfileDir);
    process.stdout.write(`CPU profile(s) of the data plane in ${path.relative(process.cwd(), settings.cpuProfileDir)}, with a flame graph (.svg) each: ${graphs.length}\n`);
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
