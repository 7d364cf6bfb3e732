// Flame graphs of V8 CPU profiles (node --cpu-prof), as self-contained SVG:
//   node -r ./scripts/register.js bench/flamegraph.ts <file.cpuprofile> [out.svg]
// `BENCH_CPU_PROF=1 npm run bench` writes one next to every profile it takes.
// Each box is a function on one call path: its width is the time spent in it
// and everything it called, its parent is the box below it; hover for times.
// Idle time is left out, so the graph shows the work the process did.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { frameLabel, type CpuProfile, type ProfileNode } from './profile-summary';

export interface FlameNode {
  name: string;
  location: string;
  /** Microseconds sampled in this function itself. */
  selfUs: number;
  /** Microseconds in it and its callees. */
  totalUs: number;
  /** Callees, sorted by name (so the same call paths line up between graphs). */
  children: FlameNode[];
}

/** V8's call tree with the sampled time of every node; `(idle)` is dropped. */
export function flameTree(profile: CpuProfile, root = process.cwd()): FlameNode {
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, profile.timeDeltas[i] ?? 0)));
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const called = new Set(profile.nodes.flatMap((node) => node.children ?? []));
  const top = profile.nodes.find((node) => !called.has(node.id));

  const build = (node: ProfileNode): FlameNode | undefined => {
    const { name, location } = frameLabel(node.callFrame, root);
    if (name === '(idle)') return undefined;
    const children: FlameNode[] = [];
    for (const id of node.children ?? []) {
      const child = byId.get(id);
      const built = child && build(child);
      if (built && built.totalUs > 0) children.push(built);
    }
    children.sort((a, b) => (a.name === b.name ? a.location.localeCompare(b.location) : a.name.localeCompare(b.name)));
    const self = selfUs.get(node.id) ?? 0;
    return { name, location, selfUs: self, totalUs: children.reduce((sum, child) => sum + child.totalUs, self), children };
  };

  const tree = top && build(top);
  return { name: 'all', location: '', selfUs: tree?.selfUs ?? 0, totalUs: tree?.totalUs ?? 0, children: tree?.children ?? [] };
}

const FRAME_HEIGHT = 16;
const TOP = 44;
const SIDE = 10;
const CHAR_WIDTH = 6.6;

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A stable colour per function, by kind: Berth's code, node's internals, dependencies, and native/VM frames. */
function colour(node: FlameNode): string {
  let hash = 0;
  for (const c of node.name) hash = (Math.imul(hash, 31) + c.charCodeAt(0)) >>> 0;
  const shade = hash % 40;
  if (node.name === 'all') return 'rgb(200,200,200)';
  if (!node.location) return `rgb(${200 + (shade % 30)},${80 + shade},${80 + shade})`; // native, GC, (program)
  if (node.location.includes('node_modules/')) return `rgb(${90 + shade},${180 + (shade % 30)},${90 + shade})`;
  if (node.location.startsWith('node:')) return `rgb(${215 + (shade % 30)},${190 + shade},${70 + shade})`;
  return `rgb(${225 + (shade % 30)},${120 + shade * 2},${40 + shade})`; // Berth's own code
}

/**
 * The tree as an SVG flame graph `width` pixels wide (root at the bottom).
 * Boxes narrower than `minWidthPx` are left out, with their callees.
 */
export function flameGraphSvg(tree: FlameNode, options: { title: string; width?: number; minWidthPx?: number }): string {
  const width = options.width ?? 1200;
  const minWidth = options.minWidthPx ?? 0.5;
  const scale = tree.totalUs > 0 ? (width - 2 * SIDE) / tree.totalUs : 0;
  const boxes: Array<{ node: FlameNode; x: number; depth: number; w: number }> = [];
  const place = (node: FlameNode, x: number, depth: number) => {
    const w = node.totalUs * scale;
    if (w < minWidth) return;
    boxes.push({ node, x, depth, w });
    let offset = x;
    for (const child of node.children) {
      place(child, offset, depth + 1);
      offset += child.totalUs * scale;
    }
  };
  if (tree.totalUs > 0) place(tree, SIDE, 0);
  const depth = boxes.reduce((max, box) => Math.max(max, box.depth), 0) + 1;
  const height = TOP + depth * FRAME_HEIGHT + SIDE;
  const ms = (us: number) => (us / 1000).toFixed(1);
  const share = (us: number) => (tree.totalUs > 0 ? ((us / tree.totalUs) * 100).toFixed(1) : '0.0');

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="monospace" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fafafa"/>`,
    `<text x="${width / 2}" y="18" text-anchor="middle" font-size="15">${escapeXml(options.title)}</text>`,
    `<text x="${width / 2}" y="34" text-anchor="middle" fill="#555">${tree.totalUs > 0 ? `${ms(tree.totalUs)} ms of samples, idle left out; a box is a function on one call path, as wide as the time in it and its callees` : 'no samples besides idle'}</text>`,
  );
  for (const { node, x, depth: level, w } of boxes) {
    const y = height - SIDE - (level + 1) * FRAME_HEIGHT;
    const where = node.location ? ` ${node.location}` : '';
    const tip = `${node.name}${where}: ${ms(node.totalUs)} ms (${share(node.totalUs)}%), self ${ms(node.selfUs)} ms`;
    const fits = Math.floor((w - 6) / CHAR_WIDTH);
    const label = fits < 3 ? '' : node.name.length <= fits ? node.name : `${node.name.slice(0, fits - 2)}..`;
    out.push(
      `<g><title>${escapeXml(tip)}</title><rect x="${x.toFixed(2)}" y="${y}" width="${w.toFixed(2)}" height="${FRAME_HEIGHT - 1}" rx="2" fill="${colour(node)}"/>` +
        (label ? `<text x="${(x + 3).toFixed(2)}" y="${y + 11}">${escapeXml(label)}</text>` : '') +
        '</g>',
    );
  }
  out.push('</svg>', '');
  return out.join('\n');
}

/** Draws the flame graph of the profile in `file` into `out` (default: the same name ending in .svg); returns `out`. */
export async function writeFlameGraph(file: string, title: string, out = file.replace(/\.cpuprofile$/, '') + '.svg'): Promise<string> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  await writeFile(out, flameGraphSvg(flameTree(profile), { title }));
  return out;
}

/** Writes `<name>.svg` next to every `<name>.cpuprofile` in `dir`; returns the SVG paths. */
export async function writeFlameGraphs(dir: string): Promise<string[]> {
  const written: string[] = [];
  for (const file of (await readdir(dir)).filter((name) => name.endsWith('.cpuprofile')).sort()) {
    written.push(await writeFlameGraph(path.join(dir, file), `Berth data plane — ${file}`));
  }
  return written;
}

if (require.main === module) {
  const [file, outArg] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: node -r ./scripts/register.js bench/flamegraph.ts <file.cpuprofile> [out.svg]\n');
    process.exit(2);
  }
  void writeFlameGraph(file, path.basename(file), outArg).then((out) => process.stdout.write(`${out}\n`));
}
