// Runs the production build (scripts/build.mjs) into a temporary directory laid
// out like the image's /app: dist/ next to node_modules (a link to the
// workspace's), so the built apps resolve their packages as they do in the image.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './paths';

export interface BuildOutput {
  /** The image-like root: dist/ and node_modules/. */
  root: string;
  /** Paths relative to root of every file the build wrote, e.g. dist/apps/registry/src/main.js. */
  files: Set<string>;
  /** What the build printed. */
  log: string;
  remove(): Promise<void>;
}

async function listFiles(dir: string, prefix: string): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const relative = `${prefix}/${entry.name}`;
    if (entry.isDirectory()) files.push(...(await listFiles(path.join(dir, entry.name), relative)));
    else files.push(relative);
  }
  return files;
}

export async function buildToTemp(): Promise<BuildOutput> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'berth-build-'));
  await symlink(path.join(REPO_ROOT, 'node_modules'), path.join(root, 'node_modules'), 'dir');
  const { stdout, stderr } = await promisify(execFile)(process.execPath, ['scripts/build.mjs', '--out-dir', path.join(root, 'dist')], {
    cwd: REPO_ROOT,
  });
  return {
    root,
    files: new Set(await listFiles(path.join(root, 'dist'), 'dist')),
    log: stdout + stderr,
    remove: () => rm(root, { recursive: true, force: true }),
  };
}
