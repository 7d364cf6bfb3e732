import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { flameGraphSvg, flameTree, writeFlameGraphs, type FlameNode } from './flamegraph';
import type { CpuProfile } from './profile-summary';

const frame = (functionName: string, url = '', lineNumber = 0) => ({ functionName, url, lineNumber });

/**
 * (root) → main → { b → c, a }, plus (idle) and (garbage collector):
 * 30 ms in a, 10 ms in b itself, 20 ms in c, 5 ms in GC, 100 ms idle.
 */
function syntheticProfile(): CpuProfile {
  const nodes = [
    { id: 1, callFrame: frame('(root)'), children: [2, 6, 7] },
    { id: 2, callFrame: frame('main', 'file:///srv/app/dist/apps/registry/src/main.js', 9), children: [3, 5] },
    { id: 3, callFrame: frame('b', 'node:internal/streams/readable', 99), children: [4] },
    { id: 4, callFrame: frame('c<&>"', 'file:///srv/app/node_modules/pg/lib/query.js', 1) },
    { id: 5, callFrame: frame('a', 'file:///srv/app/dist/libs/storage/src/filesystem.driver.js', 41) },
    { id: 6, callFrame: frame('(idle)') },
    { id: 7, callFrame: frame('(garbage collector)') },
  ];
  const samples: number[] = [];
  const timeDeltas: number[] = [];
  const add = (id: number, ms: number) => {
    for (let i = 0; i < ms; i++) {
      samples.push(id);
      timeDeltas.push(1000);
    }
  };
  add(5, 30);
  add(3, 10);
  add(4, 20);
  add(7, 5);
  add(6, 100);
  return { nodes, samples, timeDeltas };
}

function find(node: FlameNode, name: string): FlameNode | undefined {
  if (node.name === name) return node;
  for (const child of node.children) {
    const found = find(child, name);
    if (found) return found;
  }
  return undefined;
}

describe('flame graphs of CPU profiles', () => {
  it('builds the call tree with self and total times, leaving idle out', () => {
    const tree = flameTree(syntheticProfile(), '/srv/app');
    expect(tree.name).toBe('all');
    expect(tree.totalUs).toBe(65_000); // 30 + 10 + 20 + 5; the 100 ms idle are not work
    expect(tree.children.map((c) => c.name)).toEqual(['(garbage collector)', 'main']);
    const main = find(tree, 'main')!;
    expect(main.location).toBe('dist/apps/registry/src/main.js:10');
    expect(main.selfUs).toBe(0);
    expect(main.totalUs).toBe(60_000);
    expect(main.children.map((c) => c.name)).toEqual(['a', 'b']); // sorted by name, not by call order
    expect(find(tree, 'b')).toMatchObject({ selfUs: 10_000, totalUs: 30_000 });
    expect(find(tree, '(idle)')).toBeUndefined();
  });

  it('draws every function as wide as its time, escapes names, and leaves out boxes too narrow to see', () => {
    const tree = flameTree(syntheticProfile(), '/srv/app');
    const svg = flameGraphSvg(tree, { title: 'test <profile>', width: 1000, minWidthPx: 0.5 });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('test &lt;profile&gt;');
    const boxes = [...svg.matchAll(/<title>([^<]*)<\/title><rect x="([\d.]+)" y="(\d+)" width="([\d.]+)"/g)].map((m) => ({
      title: m[1]!,
      x: Number(m[2]),
      y: Number(m[3]),
      width: Number(m[4]),
    }));
    expect(boxes).toHaveLength(6); // all, GC, main, a, b, c
    const box = (prefix: string) => boxes.find((b) => b.title.startsWith(prefix))!;
    expect(box('all').width).toBeCloseTo(980, 1); // 1000 less the margins
    expect(box('a ').width / box('all').width).toBeCloseTo(30 / 65, 3);
    expect(box('b ').width).toBeCloseTo(box('a ').width, 3); // b and its callee c: 30 ms too
    // Callees sit above their caller, side by side within it.
    expect(box('a ').y).toBeLessThan(box('main').y);
    expect(box('c&lt;&amp;&gt;&quot;').y).toBeLessThan(box('b ').y);
    expect(box('b ').x).toBeCloseTo(box('a ').x + box('a ').width, 2);
    expect(box('a ').title).toBe('a dist/libs/storage/src/filesystem.driver.js:42: 30.0 ms (46.2%), self 30.0 ms');
    expect(svg).not.toMatch(/c<&>/); // no raw markup from a function name

    // 30 px wide (10 px inside the margins): the 5 ms of GC are under a pixel and the graph leaves them out.
    const narrow = flameGraphSvg(tree, { title: 'narrow', width: 30, minWidthPx: 1 });
    expect(narrow).not.toContain('(garbage collector)');
    expect(narrow).toContain('main');

    expect(flameGraphSvg(flameTree({ nodes: [{ id: 1, callFrame: frame('(root)') }], samples: [], timeDeltas: [] }), { title: 'empty' })).toContain(
      'no samples besides idle',
    );
  });

  it('writes one next to every profile node --cpu-prof wrote, with the functions that burned the CPU', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'berth-flame-'));
    try {
      const script = path.join(dir, 'burn.js');
      await writeFile(
        script,
        'function burnTheCpu() { let x = 0; const end = Date.now() + 300; while (Date.now() < end) x += Math.sqrt(x + 1); return x; }\nburnTheCpu();\n',
      );
      execFileSync(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, script]);
      await writeFile(path.join(dir, 'notes.txt'), 'not a profile');
      const written = await writeFlameGraphs(dir);
      expect(written).toHaveLength(1);
      expect(written[0]!.endsWith('.svg')).toBe(true);
      const svg = await readFile(written[0]!, 'utf8');
      const burn = /<title>burnTheCpu [^<]*burn\.js:1: ([\d.]+) ms/.exec(svg);
      expect(burn).not.toBeNull();
      expect(Number(burn![1])).toBeGreaterThan(100);
      expect((await readdir(dir)).filter((f) => f.endsWith('.svg'))).toHaveLength(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
