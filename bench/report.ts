import type { MachineLimits } from './limits';
import { formatBytes, sizesFor, type Sizes } from './settings';

/** 'none': context, not a contest (how busy the machine was, say). */
export type Direction = 'higher' | 'lower' | 'none';
/**
 * Which machine limits bound a number: pushes hash, write and transfer;
 * pulls transfer and hash; request rates are bounded by what a trivial
 * server answers through the same load generator.
 */
export type LimitKind = 'push' | 'pull' | 'requests';

export interface MetricDef {
  id: string;
  label: string;
  unit: string;
  better: Direction;
  decimals: number;
  limit?: LimitKind;
}

/** The table's rows, labelled with the sizes this run used. */
export function metricDefs(sizes: Sizes): MetricDef[] {
  const big = formatBytes(sizes.bigBlob);
  const huge = formatBytes(sizes.hugeBlob);
  const tags = sizes.tagCount.toLocaleString('en-US');
  const page = sizes.tagPageSize;
  const clients = sizes.loadClients;
  return [
    { id: 'push.mono', label: `Monolithic push, ${big} (POST + PUT)`, unit: 'MiB/s', better: 'higher', decimals: 1, limit: 'push' },
    { id: 'push.chunked', label: `Chunked push, ${big} (${formatBytes(sizes.chunk)} PATCHes)`, unit: 'MiB/s', better: 'higher', decimals: 1, limit: 'push' },
    { id: 'pull', label: `Pull ${big} with digest verification`, unit: 'MiB/s', better: 'higher', decimals: 1, limit: 'pull' },
    { id: 'push.parallel', label: `${sizes.parallelCount} parallel pushes of ${formatBytes(sizes.parallelBlob)}`, unit: 'MiB/s', better: 'higher', decimals: 1, limit: 'push' },
    { id: 'manifest.rps', label: `Manifest GET by tag, ${clients} clients`, unit: 'req/s', better: 'higher', decimals: 0, limit: 'requests' },
    { id: 'manifest.p50', label: 'Manifest GET latency p50', unit: 'ms', better: 'lower', decimals: 2 },
    { id: 'manifest.p99', label: 'Manifest GET latency p99', unit: 'ms', better: 'lower', decimals: 2 },
    { id: 'head.rps', label: `Blob HEAD, ${clients} clients`, unit: 'req/s', better: 'higher', decimals: 0, limit: 'requests' },
    { id: 'head.p50', label: 'Blob HEAD latency p50', unit: 'ms', better: 'lower', decimals: 2 },
    { id: 'head.p99', label: 'Blob HEAD latency p99', unit: 'ms', better: 'lower', decimals: 2 },
    { id: 'tags.first.large', label: `Tag list, first page of ${page} (${tags} tags)`, unit: 'ms', better: 'lower', decimals: 2 },
    { id: 'tags.first.small', label: `Tag list, first page of ${page} (${sizes.smallTagCount} tags)`, unit: 'ms', better: 'lower', decimals: 2 },
    { id: 'tags.all.large', label: `Tag list, all pages (${tags} tags)`, unit: 'ms', better: 'lower', decimals: 1 },
    { id: 'rss.idle', label: `RSS just before the ${huge} monolithic push`, unit: 'MiB', better: 'lower', decimals: 1 },
    { id: 'rss.mono.big', label: `Peak RSS, ${big} monolithic push`, unit: 'MiB', better: 'lower', decimals: 1 },
    { id: 'rss.mono.huge', label: `Peak RSS, ${huge} monolithic push`, unit: 'MiB', better: 'lower', decimals: 1 },
    { id: 'rss.chunked.huge', label: `Peak RSS, ${huge} chunked push`, unit: 'MiB', better: 'lower', decimals: 1 },
    { id: 'rss.growth.big', label: `RSS growth during the ${big} monolithic push (peak − before)`, unit: 'MiB', better: 'lower', decimals: 1 },
    { id: 'rss.growth.huge', label: `RSS growth during the ${huge} monolithic push (peak − before)`, unit: 'MiB', better: 'lower', decimals: 1 },
    { id: 'push.mono.huge', label: `Monolithic push, ${huge}`, unit: 'MiB/s', better: 'higher', decimals: 1, limit: 'push' },
    { id: 'push.chunked.huge', label: `Chunked push, ${huge}`, unit: 'MiB/s', better: 'higher', decimals: 1, limit: 'push' },
    { id: 'skopeo.in', label: `skopeo copy in, 3-layer image (3 × ${formatBytes(sizes.skopeoLayer)})`, unit: 's', better: 'lower', decimals: 2 },
    { id: 'skopeo.out', label: 'skopeo copy out, same image', unit: 's', better: 'lower', decimals: 2 },
    { id: 'cpu.push.mono', label: `Server CPU per MiB, monolithic push (Berth: data plane + PostgreSQL)`, unit: 'CPU ms/MiB', better: 'lower', decimals: 2 },
    { id: 'cpu.push.chunked', label: 'Server CPU per MiB, chunked push', unit: 'CPU ms/MiB', better: 'lower', decimals: 2 },
    { id: 'cpu.pull', label: 'Server CPU per MiB, pull', unit: 'CPU ms/MiB', better: 'lower', decimals: 2 },
    { id: 'cpu.push.parallel', label: 'Server CPU per MiB, parallel pushes', unit: 'CPU ms/MiB', better: 'lower', decimals: 2 },
    { id: 'busy.push.mono', label: `All cores busy during the monolithic push (bench client, registry, database, kernel)`, unit: '% busy', better: 'none', decimals: 0 },
    { id: 'busy.push.chunked', label: 'All cores busy during the chunked push', unit: '% busy', better: 'none', decimals: 0 },
    { id: 'busy.pull', label: 'All cores busy during the pull', unit: '% busy', better: 'none', decimals: 0 },
    { id: 'busy.push.parallel', label: 'All cores busy during the parallel pushes', unit: '% busy', better: 'none', decimals: 0 },
    { id: 'small.post', label: `Small push (${formatBytes(sizes.smallLayer)} layer): POST, median`, unit: 'ms', better: 'lower', decimals: 2 },
    { id: 'small.patch', label: 'Small push: PATCH, median', unit: 'ms', better: 'lower', decimals: 2 },
    { id: 'small.put', label: 'Small push: PUT ?digest, median', unit: 'ms', better: 'lower', decimals: 2 },
    { id: 'small.manifest', label: 'Small push: manifest PUT by tag, median', unit: 'ms', better: 'lower', decimals: 2 },
  ];
}

const METRIC_IDS = new Set(metricDefs(sizesFor(1)).map((m) => m.id));

export type TargetLabel = 'Berth' | 'Distribution';

/** Raw samples: metric id → target → one value per round. */
export class Samples {
  readonly values = new Map<string, Record<TargetLabel, number[]>>();
  /** Free-form observations (page counts, errors) shown under the table. */
  readonly notes: string[] = [];
  /** Disk write + fsync measured next to a push workload, per round: metric id → MiB/s. */
  readonly diskNextToPush = new Map<string, number[]>();

  add(metric: string, target: TargetLabel, value: number): void {
    if (!METRIC_IDS.has(metric)) throw new Error(`unknown metric ${metric}`);
    let entry = this.values.get(metric);
    if (!entry) {
      entry = { Berth: [], Distribution: [] };
      this.values.set(metric, entry);
    }
    entry[target].push(value);
  }

  addDiskNextToPush(metric: string, mibps: number): void {
    if (!METRIC_IDS.has(metric)) throw new Error(`unknown metric ${metric}`);
    this.diskNextToPush.set(metric, [...(this.diskNextToPush.get(metric) ?? []), mibps]);
  }

  note(line: string): void {
    if (!this.notes.includes(line)) this.notes.push(line);
  }
}

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export interface SummaryRow {
  metric: MetricDef;
  berth: number;
  distribution: number;
  /** Berth / Distribution. */
  ratio: number;
  berthWins: boolean;
  samples: Record<TargetLabel, number[]>;
  /** Berth's throughput as a fraction of the tightest relevant machine limit. */
  fractionOfLimit?: number;
}

/**
 * The lowest machine limit bounding a metric of this kind. For a push, the
 * disk is `diskNextToPush` (the median of the writes made next to that
 * workload) when it was measured, else the probe at the start of the run.
 */
export function tightestLimit(limits: MachineLimits, kind: LimitKind, diskNextToPush?: number): { name: string; value: number; unit: string } {
  if (kind === 'requests') return { name: 'trivial server', value: limits.loopbackRequestsPerSecond, unit: 'req/s' };
  const disk = diskNextToPush === undefined ? { name: 'disk write', value: limits.diskWriteMiBps } : { name: 'disk write next to it', value: diskNextToPush };
  const candidates =
    kind === 'push'
      ? [
          { name: 'sha256', value: limits.sha256MiBps },
          disk,
          { name: 'loopback HTTP', value: limits.loopbackHttpMiBps },
        ]
      : [
          { name: 'sha256', value: limits.sha256MiBps },
          { name: 'loopback HTTP', value: limits.loopbackHttpMiBps },
        ];
  return { ...candidates.reduce((a, b) => (b.value < a.value ? b : a)), unit: 'MiB/s' };
}

/** The tightest limit of a metric that has one, with the disk measured next to it when there is such a measurement. */
export function limitOf(metric: MetricDef, limits: MachineLimits, samples: Samples): { name: string; value: number; unit: string } {
  const disk = samples.diskNextToPush.get(metric.id);
  return tightestLimit(limits, metric.limit!, disk && disk.length > 0 ? median(disk) : undefined);
}

export function summarise(samples: Samples, limits: MachineLimits | undefined, sizes: Sizes): SummaryRow[] {
  const rows: SummaryRow[] = [];
  for (const metric of metricDefs(sizes)) {
    const entry = samples.values.get(metric.id);
    if (!entry) continue;
    const berth = median(entry.Berth);
    const distribution = median(entry.Distribution);
    const ratio = berth / distribution;
    const row: SummaryRow = {
      metric,
      berth,
      distribution,
      ratio,
      berthWins: metric.better === 'higher' ? berth > distribution : metric.better === 'lower' && berth < distribution,
      samples: entry,
    };
    if (metric.limit && limits) row.fractionOfLimit = berth / limitOf(metric, limits, samples).value;
    rows.push(row);
  }
  return rows;
}

export interface TargetCheck {
  target: string;
  met: boolean | undefined;
  detail: string;
}

const fmt = (value: number, decimals = 2) => (Number.isFinite(value) ? value.toFixed(decimals) : 'n/a');

/** The targets, judged on the medians (undefined = not measured in this run). */
export function checkTargets(rows: SummaryRow[], sizes: Sizes): TargetCheck[] {
  const defs = metricDefs(sizes);
  const row = (id: string) => rows.find((r) => r.metric.id === id);
  // Targets not measured in this run still show their workload's label.
  const labelOf = (id: string) => defs.find((m) => m.id === id)?.label ?? id;
  const checks: TargetCheck[] = [];
  const throughputIds = ['push.mono', 'push.chunked', 'push.parallel', 'pull'];
  for (const id of throughputIds) {
    const r = row(id);
    checks.push({
      target: `${labelOf(id)}: ≥ 1.2× Distribution`,
      met: r ? r.ratio >= 1.2 : undefined,
      detail: r ? `${fmt(r.ratio)}×` : 'not measured',
    });
  }
  for (const id of throughputIds) {
    const r = row(id);
    checks.push({
      target: `${labelOf(id)}: ≥ 70% of the tightest machine limit`,
      met: r?.fractionOfLimit !== undefined ? r.fractionOfLimit >= 0.7 : undefined,
      detail: r?.fractionOfLimit !== undefined ? `${fmt(r.fractionOfLimit * 100, 0)}%` : 'not measured',
    });
  }
  for (const id of ['manifest.rps', 'head.rps']) {
    const r = row(id);
    checks.push({
      target: `${labelOf(id)}: ≥ 1.5× Distribution's requests/s`,
      met: r ? r.ratio >= 1.5 : undefined,
      detail: r ? `${fmt(r.ratio)}×` : 'not measured',
    });
  }
  for (const id of ['manifest.p99', 'head.p99']) {
    const r = row(id);
    checks.push({
      target: `${labelOf(id)} at 64 clients: < 20 ms`,
      met: r ? r.berth < 20 : undefined,
      detail: r ? `${fmt(r.berth)} ms` : 'not measured',
    });
  }
  for (const id of ['skopeo.in', 'skopeo.out']) {
    const r = row(id);
    checks.push({
      target: `${labelOf(id)}: ≥ 1.2× faster than Distribution`,
      met: r ? r.distribution / r.berth >= 1.2 : undefined,
      detail: r ? `${fmt(r.distribution / r.berth)}× as fast` : 'not measured',
    });
  }
  for (const id of ['rss.mono.huge', 'rss.chunked.huge']) {
    const r = row(id);
    checks.push({
      target: `${labelOf(id)}: < 200 MiB`,
      met: r ? r.berth < 200 : undefined,
      detail: r ? `${fmt(r.berth, 1)} MiB` : 'not measured',
    });
  }
  // Growth during the push (peak minus the RSS just before it), so drift of the idle RSS between workloads does not count.
  const big = row('rss.growth.big');
  const huge = row('rss.growth.huge');
  checks.push({
    target: `Peak RSS constant in blob size (growth during a ${formatBytes(sizes.hugeBlob)} vs a ${formatBytes(sizes.bigBlob)} monolithic push: within 16 MiB or 10%)`,
    met: big && huge ? huge.berth <= big.berth + Math.max(16, big.berth * 0.1) : undefined,
    detail: big && huge ? `+${fmt(huge.berth, 1)} MiB vs +${fmt(big.berth, 1)} MiB` : 'not measured',
  });
  const large = row('tags.first.large');
  const small = row('tags.first.small');
  checks.push({
    target: 'First page of 100 tags: same time at 10,000 tags as at 100 (within 25% or 1 ms)',
    met: large && small ? large.berth <= Math.max(small.berth * 1.25, small.berth + 1) : undefined,
    detail: large && small ? `${fmt(large.berth)} ms vs ${fmt(small.berth)} ms` : 'not measured',
  });
  return checks;
}

function betterText(metric: MetricDef): string {
  if (metric.better === 'none') return 'context';
  return metric.better === 'higher' ? 'higher is better' : 'lower is better';
}

function tableLines(rows: SummaryRow[]): string[][] {
  return rows.map((r) => [
    r.metric.label,
    r.metric.unit,
    fmt(r.berth, r.metric.decimals),
    fmt(r.distribution, r.metric.decimals),
    fmt(r.ratio),
    betterText(r.metric),
    r.metric.better === 'none' ? '—' : r.berth === r.distribution ? 'tie' : r.berthWins ? 'Berth' : 'Distribution',
  ]);
}

const HEADER = ['Workload', 'Unit', 'Berth', 'Distribution', 'Berth/Distribution', 'Direction', 'Better'];

/** The table as aligned plain text, for the terminal. */
export function plainTable(rows: SummaryRow[]): string {
  const lines = [HEADER, ...tableLines(rows)];
  const widths = HEADER.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  return lines
    .map((l, n) => {
      const text = l.map((cell, i) => (i >= 2 && i <= 4 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ');
      return n === 0 ? `${text}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : text;
    })
    .join('\n');
}

export interface ReportContext {
  date: Date;
  sizes: Sizes;
  machine: Array<[string, string]>;
  settings: Array<[string, string]>;
  limits: MachineLimits | undefined;
  durationSeconds: number;
}

/** bench/RESULTS.md. */
export function markdownReport(rows: SummaryRow[], samples: Samples, context: ReportContext): string {
  const out: string[] = [];
  out.push('# Berth vs CNCF Distribution — benchmark results', '');
  out.push(`Generated by \`npm run bench\` on ${context.date.toISOString()} (run took ${Math.round(context.durationSeconds)} s). This file is rewritten by every run.`, '');
  out.push('## Machine', '');
  for (const [key, value] of context.machine) out.push(`- **${key}:** ${value}`);
  out.push('', '## Settings', '');
  for (const [key, value] of context.settings) out.push(`- **${key}:** ${value}`);
  out.push('', '## Medians', '');
  out.push(`| ${HEADER.join(' | ')} |`, `| ${HEADER.map((_, i) => (i >= 2 && i <= 4 ? '---:' : '---')).join(' | ')} |`);
  for (const line of tableLines(rows)) out.push(`| ${line.join(' | ')} |`);
  out.push('', 'Ratio = Berth ÷ Distribution: above 1 favours Berth where higher is better (throughput, requests/s), below 1 favours Berth where lower is better (latency, time, memory).', '');
  if (context.limits) {
    const l = context.limits;
    out.push('## Machine limits', '');
    out.push(`- sha256 (Node crypto, 1 MiB updates): **${fmt(l.sha256MiBps, 0)} MiB/s**`);
    out.push(`- Disk write + fsync at the start of the run (a new file in the bench's temp dir each time, 1 MiB writes with a flush always in flight, median of 3): **${fmt(l.diskWriteMiBps, 0)} MiB/s**`);
    for (const r of rows) {
      const disk = samples.diskNextToPush.get(r.metric.id);
      if (!disk || disk.length === 0) continue;
      out.push(
        `- Disk write + fsync next to "${r.metric.label}" (each round between the two registries: the same bytes in as many files, written and fsynced by the bench the same way): **${fmt(median(disk), 0)} MiB/s** (rounds: ${disk.map((v) => fmt(v, 0)).join(', ')})`,
      );
    }
    out.push(`- Loopback HTTP upload to a trivial node:http server (own process) that discards the body: **${fmt(l.loopbackHttpMiBps, 0)} MiB/s**`);
    out.push(
      `- Verified download: the bench's client pulling from that trivial server (bytes from memory) while hashing them, with the pull workload's own downloader (one connection, a reused 1 MiB read buffer): **${fmt(l.verifiedDownloadMiBps, 0)} MiB/s** — what the client reaches when the server costs almost nothing; context for the pull, not a ceiling (client and server share the cores)`,
    );
    out.push(
      `- Requests/s the bench's load generator gets from a trivial node:http server (own process, tiny JSON body, same client settings as the load tests): **${fmt(l.loopbackRequestsPerSecond, 0)} req/s**`,
    );
    out.push(
      '',
      'Tightest limit for a push = min(sha256, disk, loopback upload), where disk is the write made next to that push when there is one (the same write has measured from 253 to 1,570 MiB/s on this VM depending on what ran before it); for a pull = min(sha256, loopback upload) (the client verifies the digest; the server reads from the page cache); for request rates = the trivial server.',
      '',
    );
    out.push('| Berth | Median | Tightest limit | Fraction of limit | All cores busy meanwhile |', '| --- | ---: | --- | ---: | ---: |');
    for (const r of rows) {
      if (!r.metric.limit || r.fractionOfLimit === undefined) continue;
      const limit = limitOf(r.metric, l, samples);
      const busy = rows.find((b) => b.metric.id === `busy.${r.metric.id}`);
      const busyText = busy ? `${fmt(busy.berth, 0)}%` : '—';
      out.push(
        `| ${r.metric.label} | ${fmt(r.berth, r.metric.decimals)} ${r.metric.unit} | ${limit.name} (${fmt(limit.value, 0)} ${limit.unit}) | ${fmt(r.fractionOfLimit * 100, 0)}% | ${busyText} |`,
      );
    }
    out.push('');
  }
  out.push('## Targets (issue 5)', '');
  for (const check of checkTargets(rows, context.sizes)) {
    const mark = check.met === undefined ? '— not measured' : check.met ? '✅ met' : '❌ not met';
    out.push(`- ${mark}: ${check.target} (${check.detail})`);
  }
  out.push(
    '',
    `With ${context.sizes.loadClients} clients each waiting for its answer before the next request, the mean latency is ${context.sizes.loadClients} ÷ (requests/s): ` +
      `latencies under 20 ms need well over ${Math.round(context.sizes.loadClients / 0.02)} requests/s from this machine's load generator` +
      (context.limits ? ` (a trivial server gets ${fmt(context.limits.loopbackRequestsPerSecond, 0)}).` : '.'),
  );
  out.push('', '## Samples per round', '');
  out.push('| Workload | Berth | Distribution |', '| --- | --- | --- |');
  for (const r of rows) {
    const list = (values: number[]) => values.map((v) => fmt(v, r.metric.decimals)).join(', ');
    out.push(`| ${r.metric.label} (${r.metric.unit}) | ${list(r.samples.Berth)} | ${list(r.samples.Distribution)} |`);
  }
  if (samples.notes.length > 0) {
    out.push('', '## Notes', '');
    for (const note of samples.notes) out.push(`- ${note}`);
  }
  out.push('');
  return out.join('\n');
}
