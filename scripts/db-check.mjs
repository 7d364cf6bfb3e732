// CI guard: fails when prisma/schema.prisma and prisma/migrations disagree,
// i.e. someone changed the schema without adding a migration (or vice versa).
// Usage: node scripts/db-check.mjs   (needs a Postgres server for a shadow database)
import { diffSchemaAgainstMigrations } from './prisma-engine.mjs';

try {
  const sql = await diffSchemaAgainstMigrations();
  if (sql) {
    console.error('prisma/schema.prisma and prisma/migrations disagree. Pending SQL:\n');
    console.log(sql);
    console.error('Run `npm run db:migration:new -- <name>` to add a migration.');
    process.exitCode = 1;
  } else {
    console.log('prisma/schema.prisma and prisma/migrations agree.');
  }
} catch (error) {
  console.error(`db:check failed: ${error.message}`);
  process.exitCode = 1;
}
