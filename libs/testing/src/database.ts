// Per-test databases, cloned from the template that global-setup.js keeps in
// step with prisma/migrations. Cloning a template is a file copy inside
// Postgres, far faster than replaying the migrations for every test file.
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

export const TEST_TEMPLATE_DATABASE = 'berth_test_template';

export interface TestDatabase {
  /** Connection string of the new database. */
  url: string;
  name: string;
  /** Drops the database, closing any connections tests left open. */
  drop(): Promise<void>;
}

function adminUrl(): string {
  return process.env.TEST_DATABASE_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
}

async function adminQuery(sql: string): Promise<void> {
  const client = new Client({ connectionString: adminUrl() });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Creates a fresh, uniquely named database with the migrated schema (and seed data). */
export async function createTestDatabase(): Promise<TestDatabase> {
  // Lower-case letters, digits and '_' only, so the name never needs escaping;
  // pid and randomness keep parallel jest workers and runs apart.
  const name = `berth_test_${process.pid}_${randomBytes(6).toString('hex')}`;
  await adminQuery(`CREATE DATABASE "${name}" TEMPLATE "${TEST_TEMPLATE_DATABASE}"`);
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  let dropped: Promise<void> | undefined;
  return {
    url: url.toString(),
    name,
    // FORCE: a client a test forgot to close must not keep the database alive.
    drop: () => (dropped ??= adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)),
  };
}
