import { mkdir, open, rmdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

// Real clients resolve `<registry>.<domain>` through the system resolver, so
// the tests map their (unique) login servers to 127.0.0.1 in /etc/hosts and
// remove exactly those lines afterwards. Test files run in parallel, so each
// change of the file happens under a lock. The file is changed in place (never
// renamed: in containers it is often a bind mount) and never truncated to
// empty first, so a client of the other test file resolving names meanwhile
// still finds its lines.

const HOSTS_FILE = '/etc/hosts';
const LOCK_DIR = path.join(tmpdir(), 'berth-test-etc-hosts.lock');
const STALE_LOCK_MS = 30_000;

async function withLock<T>(work: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      await mkdir(LOCK_DIR);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      // A lock left by a crashed run would block every later one.
      const info = await stat(LOCK_DIR).catch(() => undefined);
      if (info && Date.now() - info.mtimeMs > STALE_LOCK_MS) await rmdir(LOCK_DIR).catch(() => undefined);
      if (Date.now() > deadline) throw new Error(`could not lock ${HOSTS_FILE} (${LOCK_DIR} exists)`);
      await new Promise((resolve) => setTimeout(resolve, 25 + Math.random() * 50));
    }
  }
  try {
    return await work();
  } finally {
    await rmdir(LOCK_DIR).catch(() => undefined);
  }
}

/** Replaces the file's lines in place: one write from offset 0, then a truncate to the new length. */
async function rewriteLines(transform: (lines: string[]) => string[]): Promise<void> {
  const file = await open(HOSTS_FILE, 'r+');
  try {
    const current = (await file.readFile()).toString('utf8');
    const lines = current.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    const next = Buffer.from(transform(lines).map((line) => `${line}\n`).join(''));
    await file.write(next, 0, next.length, 0);
    await file.truncate(next.length);
  } finally {
    await file.close();
  }
}

const MARKER = '# berth client e2e';
const OWNER = new RegExp(`${MARKER} (\\d+)$`);

/** A line added by a test process that no longer runs (killed before its clean-up). */
function isStale(line: string): boolean {
  const owner = OWNER.exec(line);
  if (!owner) return false;
  try {
    process.kill(Number(owner[1]), 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

export interface HostsEntries {
  lines: string[];
  remove(): Promise<void>;
}

/**
 * Maps each host name to 127.0.0.1; `remove()` deletes exactly the lines
 * added. Lines left behind by killed test processes are dropped on the way.
 */
export async function addHostsEntries(hostNames: string[]): Promise<HostsEntries> {
  const lines = hostNames.map((name) => `127.0.0.1 ${name} ${MARKER} ${process.pid}`);
  await withLock(() => rewriteLines((current) => [...current.filter((line) => !isStale(line)), ...lines]));
  let removed = false;
  return {
    lines,
    async remove() {
      if (removed) return;
      removed = true;
      const ours = new Set(lines);
      await withLock(() => rewriteLines((current) => current.filter((line) => !ours.has(line))));
    },
  };
}
