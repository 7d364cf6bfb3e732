// Top self-time functions of a V8 .cpuprofile (as written by node --cpu-prof):
//   node -r ./scripts/register.js bench/profile-summary.ts <file.cpuprofile> [top=25]
// Self time is attributed from the profile's samples and time deltas, summed
// per function (name + file + line), so the hot spots show without a viewer.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

export interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  name: string;
  location: string;
  ms: number;
  share: number;
}

/** A frame's function name ('(anonymous)' when it has none) and `file:line`, relative to `root` (empty for native frames). */
export function frameLabel(frame: ProfileNode['callFrame'], root: string): { name: string; location: string } {
  const file = frame.url.replace(/^file:\/\//, '');
  const location = file ? `${path.isAbsolute(file) ? path.relative(root, file) : file}:${frame.lineNumber + 1}` : '';
  return { name: frame.functionName || '(anonymous)', location };
}

/** Self time per function, largest first. */
export function selfTimes(profile: CpuProfile, root = process.cwd()): SelfTime[] {
  const byNode = new Map(profile.nodes.map((node) => [node.id, node]));
  const totals = new Map<string, { name: string; location: string; us: number }>();
  let all = 0;
  profile.samples.forEach((id, i) => {
    const delta = Math.max(0, profile.timeDeltas[i] ?? 0);
    const frame = byNode.get(id)?.callFrame;
    if (!frame) return;
    all += delta;
    const { name, location } = frameLabel(frame, root);
    const key = `${name}@${location}`;
    const entry = totals.get(key) ?? { name, location, us: 0 };
    entry.us += delta;
    totals.set(key, entry);
  });
  return [...totals.values()]
    .sort((a, b) => b.us - a.us)
    .map((entry) => ({ name: entry.name, location: entry.location, ms: entry.us / 1000, share: all ? entry.us / all : 0 }));
}

if (require.main === module) {
  const [file, topArg] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: node -r ./scripts/register.js bench/profile-summary.ts <file.cpuprofile> [top]\n');
    process.exit(2);
  }
  const rows = selfTimes(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile).slice(0, Number(topArg ?? 25));
  for (const row of rows) {
    process.stdout.write(`${(row.share * 100).toFixed(1).padStart(5)}%  ${row.ms.toFixed(0).padStart(7)} ms  ${row.name}  ${row.location}\n`);
  }
}
