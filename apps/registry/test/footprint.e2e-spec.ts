import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../../..');

/** The node_modules packages of these scopes that requiring `modules` loads, in a fresh process. */
function packagesLoadedBy(modules: string[]): string[] {
  const script = `
    for (const m of ${JSON.stringify(modules)}) require(m);
    const found = new Set();
    for (const file of Object.keys(require.cache)) {
      const match = /node_modules[\\\\/](@prisma|@azure)[\\\\/]([^\\\\/]+)/.exec(file);
      if (match) found.add(match[1] + '/' + match[2]);
    }
    process.stdout.write(JSON.stringify([...found].sort()));
  `;
  const out = execFileSync(process.execPath, ['-r', './scripts/register.js', '-e', script], { cwd: ROOT, encoding: 'utf8' });
  return JSON.parse(out) as string[];
}

describe('data plane footprint', () => {
  it('loads neither the Prisma runtime nor the Azure SDK when it serves from the filesystem', () => {
    // Everything main.ts loads; the Azure driver is imported only when STORAGE_DRIVER=azure.
    expect(packagesLoadedBy(['./apps/registry/src/registry-server', './apps/registry/src/observability/logger', '@berth/config'])).toEqual([]);
  });

  it('sees them when they are loaded (the check itself works)', () => {
    expect(packagesLoadedBy(['@berth/db', './libs/storage/src/azure-blob.driver'])).toEqual(expect.arrayContaining(['@prisma/client', '@azure/storage-blob']));
  });
});
