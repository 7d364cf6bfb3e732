import { constants } from 'node:fs';
import { access, readFile, writeFile } from 'node:fs/promises';
import type { Cleanup } from './processes';

const HOSTS = '/etc/hosts';

/**
 * Maps one name to 127.0.0.1 in /etc/hosts for tools that resolve names
 * themselves (skopeo), marked so cleanup removes exactly that line.
 * Returns false, changing nothing, when the file is not writable.
 */
export async function addHostsEntry(name: string, cleanup: Cleanup): Promise<boolean> {
  try {
    await access(HOSTS, constants.W_OK);
  } catch {
    return false;
  }
  const marker = `# berth-bench ${process.pid} ${name}`;
  const line = `127.0.0.1 ${name} ${marker}`;
  const before = await readFile(HOSTS, 'utf8');
  await writeFile(HOSTS, `${before}${before.endsWith('\n') || before === '' ? '' : '\n'}${line}\n`);
  cleanup.add(`remove ${name} from ${HOSTS}`, async () => {
    const now = await readFile(HOSTS, 'utf8');
    // Only our line goes: anything else written meanwhile is kept.
    await writeFile(HOSTS, now.split('\n').filter((l) => !l.endsWith(marker)).join('\n'));
  });
  return true;
}
