import { defineConfig } from 'prisma/config';

// Prisma 7 reads the connection string from here (CLI only); the apps pass
// DATABASE_URL to the pg driver adapter through libs/config.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/berth' },
});
