// Benchmark settings, read from BENCH_* variables (the bench is a script, not
// an app: it reads its own environment, never Berth's configuration).

export const MIB = 1024 * 1024;

export const WORKLOAD_IDS = [
  'push-mono',
  'push-chunked',
  'pull',
  'push-parallel',
  'manifest-get',
  'blob-head',
  'tags',
  'rss-1g',
  'skopeo',
  'small-push',
] as const;
export type WorkloadId = (typeof WORKLOAD_IDS)[number];

export interface BenchSettings {
  rounds: number;
  /** Overrides of the derived sizes (the smoke test shrinks the fixtures further). */
  sizeOverrides?: Partial<Sizes>;
  /** Multiplies every size (and the load-test duration when below 1): 1 = the sizes. */
  scale: number;
  workloads: WorkloadId[];
  /** Where RESULTS.md goes; undefined = do not write one. */
  resultsPath: string | undefined;
  /** When set, the data plane runs with --cpu-prof and writes its profile here. */
  cpuProfileDir: string | undefined;
  /** LOG_LEVEL of Berth's processes (warn unless BENCH_BERTH_LOG_LEVEL says otherwise). */
  berthLogLevel: string;
  /** Extra Node/V8 flags for the data plane, after the production ones (BENCH_BERTH_NODE_FLAGS; for experiments). */
  berthNodeFlags: string[];
  /** Skip the machine-limit measurements (the smoke test does). */
  measureLimits: boolean;
  log: (line: string) => void;
}

/** Every size the workloads use, derived from the scale. */
export interface Sizes {
  bigBlob: number;
  chunk: number;
  parallelBlob: number;
  parallelCount: number;
  hugeBlob: number;
  tagCount: number;
  smallTagCount: number;
  tagPageSize: number;
  loadSeconds: number;
  loadClients: number;
  skopeoLayer: number;
  /** Sequential small-image pushes whose request latencies are timed, and their layer size. */
  smallPushes: number;
  smallLayer: number;
  limitHashBytes: number;
  limitDiskBytes: number;
  limitHttpBytes: number;
}

/** `256 MiB`, `1 GiB`, `160 KiB`: sizes as the report prints them. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * MIB && bytes % (1024 * MIB) === 0) return `${bytes / (1024 * MIB)} GiB`;
  if (bytes >= MIB) return `${+(bytes / MIB).toFixed(2)} MiB`;
  return `${+(bytes / 1024).toFixed(1)} KiB`;
}

function scaled(bytes: number, scale: number, min = 64 * 1024): number {
  return Math.max(min, Math.round(bytes * scale));
}

export function sizesFor(scale: number): Sizes {
  const bigBlob = scaled(256 * MIB, scale);
  return {
    bigBlob,
    // 8 MiB PATCHes at full size; below that the blob keeps its 32 chunks.
    chunk: Math.min(8 * MIB, Math.max(16 * 1024, Math.floor(bigBlob / 32))),
    parallelBlob: scaled(16 * MIB, scale, 16 * 1024),
    parallelCount: 20,
    hugeBlob: scaled(1024 * MIB, scale),
    // At least two pages of 100 even in a smoke run.
    tagCount: Math.max(250, Math.round(10_000 * Math.min(scale, 1))),
    smallTagCount: 100,
    tagPageSize: 100,
    loadSeconds: Math.max(0.5, 5 * Math.min(scale, 1)),
    loadClients: 64,
    skopeoLayer: scaled(4 * MIB, scale, 16 * 1024),
    smallPushes: Math.max(3, Math.round(40 * Math.min(scale, 1))),
    smallLayer: 64 * 1024,
    limitHashBytes: scaled(1024 * MIB, scale, 8 * MIB),
    limitDiskBytes: scaled(512 * MIB, scale, 8 * MIB),
    limitHttpBytes: scaled(1024 * MIB, scale, 8 * MIB),
  };
}

type Env = Record<string, string | undefined>;

/** Reads BENCH_ROUNDS, BENCH_SCALE, BENCH_WORKLOADS, BENCH_RESULTS, BENCH_CPU_PROF, BENCH_LIMITS, BENCH_BERTH_LOG_LEVEL, BENCH_BERTH_NODE_FLAGS; throws on nonsense. */
export function settingsFromEnv(env: Env, defaults: { resultsPath: string; profileDir: string }): BenchSettings {
  const rounds = Number(env.BENCH_ROUNDS ?? '3');
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 50) throw new Error(`BENCH_ROUNDS must be an integer 1-50 (got "${env.BENCH_ROUNDS}")`);
  const scale = Number(env.BENCH_SCALE ?? '1');
  if (!Number.isFinite(scale) || scale <= 0 || scale > 8) throw new Error(`BENCH_SCALE must be a number in (0, 8] (got "${env.BENCH_SCALE}")`);
  let workloads: WorkloadId[] = [...WORKLOAD_IDS];
  if (env.BENCH_WORKLOADS) {
    const wanted = env.BENCH_WORKLOADS.split(',').map((s) => s.trim()).filter(Boolean);
    const unknown = wanted.filter((id) => !(WORKLOAD_IDS as readonly string[]).includes(id));
    if (unknown.length > 0) throw new Error(`unknown BENCH_WORKLOADS ${unknown.join(', ')}; known: ${WORKLOAD_IDS.join(', ')}`);
    workloads = WORKLOAD_IDS.filter((id) => wanted.includes(id));
  }
  const profiling = /^(1|true|yes|on)$/i.test(env.BENCH_CPU_PROF ?? '');
  return {
    rounds,
    scale,
    workloads,
    resultsPath: env.BENCH_RESULTS === '' ? undefined : (env.BENCH_RESULTS ?? defaults.resultsPath),
    cpuProfileDir: profiling ? defaults.profileDir : undefined,
    berthLogLevel: env.BENCH_BERTH_LOG_LEVEL || 'warn',
    berthNodeFlags: (env.BENCH_BERTH_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean),
    measureLimits: !/^(0|false|no|off)$/i.test(env.BENCH_LIMITS ?? ''),
    log: (line) => process.stderr.write(`${line}\n`),
  };
}
