// Writes the next migration from the difference between prisma/migrations and
// prisma/schema.prisma (what `prisma migrate dev --create-only` would write).
// Usage: node scripts/db-migration-new.mjs <name>
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { diffSchemaAgainstMigrations, ensureLockfile, MIGRATIONS_DIR, ROOT_DIR } from './prisma-engine.mjs';

// Prisma's folder naming: UTC timestamp, then a lower-case snake_case name.
const name = (process.argv[2] ?? '')
  .toLowerCase()
  .replace(/[^a-z0-9]+/g, '_')
  .replace(/^_+|_+$/g, '');
if (!name) {
  console.error('Usage: node scripts/db-migration-new.mjs <name>');
  process.exit(2);
}

try {
  await mkdir(MIGRATIONS_DIR, { recursive: true });
  await ensureLockfile();
  const sql = await diffSchemaAgainstMigrations();
  if (!sql) {
    console.error('No schema changes: prisma/schema.prisma already matches prisma/migrations. Nothing written.');
    process.exit(1);
  }
  const timestamp = new Date().toISOString().replace(/\D/g, '').slice(0, 14);
  const dir = path.join(MIGRATIONS_DIR, `${timestamp}_${name}`);
  await mkdir(dir); // not recursive: never overwrite an existing migration
  await writeFile(path.join(dir, 'migration.sql'), sql);
  console.log(`Wrote ${path.relative(ROOT_DIR, dir)}/migration.sql:\n\n${sql}`);
} catch (error) {
  console.error(`db:migration:new failed: ${error.message}`);
  process.exitCode = 1;
}
