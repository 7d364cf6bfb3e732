// Applies prisma/migrations to DATABASE_URL (creating the database if needed).
// Usage: node scripts/db-migrate.mjs
import { applyMigrations, DEFAULT_DATABASE_URL, databaseName } from './prisma-engine.mjs';

const url = process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
try {
  const applied = await applyMigrations(url);
  const target = databaseName(url);
  if (applied.length === 0) console.log(`${target}: already up to date, nothing applied.`);
  else console.log(`${target}: applied ${applied.length} migration(s):\n${applied.map((n) => `  ${n}`).join('\n')}`);
} catch (error) {
  console.error(`db:migrate failed: ${error.message}`);
  process.exitCode = 1;
}
