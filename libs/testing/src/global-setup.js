// Jest global setup: makes sure `berth_test_template` holds exactly the schema
// of prisma/migrations, so each test can clone a fresh database from it in
// milliseconds (see database.ts). The template is rebuilt only when it is
// missing or its `_prisma_migrations` rows differ from the folder, which keeps
// repeated runs fast. Plain CommonJS: jest loads this file untransformed.
const { createHash } = require('node:crypto');
const path = require('node:path');
const { pathToFileURL } = require('node:url');
const { Client } = require('pg');

const TEMPLATE = 'berth_test_template';
const ENGINE = path.join(__dirname, '..', '..', '..', 'scripts', 'prisma-engine.mjs');

module.exports = async function globalSetup() {
  const adminUrl = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
  // The migration tooling is ESM; import() is how CommonJS loads it.
  const engine = await import(pathToFileURL(ENGINE).href);
  const templateUrl = engine.withDatabase(adminUrl, TEMPLATE);

  // Serialises concurrent test runs (e.g. parallel Nx targets) on one server,
  // so one of them does not drop the template while another builds it.
  const lock = new Client({ connectionString: adminUrl });
  await lock.connect();
  try {
    await lock.query('SELECT pg_advisory_lock(hashtext($1))', [TEMPLATE]);
    const wanted = await folderMigrations(engine);
    const applied = await appliedMigrations(templateUrl);
    if (applied === wanted) return;
    console.log(`\nglobal-setup: (re)building ${TEMPLATE} from prisma/migrations`);
    await engine.dropDatabase(templateUrl);
    await engine.applyMigrations(templateUrl);
  } finally {
    await lock.end(); // also releases the advisory lock
  }
};

/** "name checksum" lines for the folder, checksums as Prisma computes them. */
async function folderMigrations(engine) {
  const { migrationDirectories } = await engine.loadMigrations();
  return migrationDirectories
    .map(({ path: name, migrationFile: { content } }) => {
      if (content.tag !== 'ok') throw new Error(`cannot read migration ${name}: ${content.value}`);
      return `${name} ${createHash('sha256').update(content.value).digest('hex')}`;
    })
    .sort((a, b) => a.localeCompare(b))
    .join('\n');
}

/** The same lines for the migrations completed in the template; null when it has none. */
async function appliedMigrations(url) {
  const client = new Client({ connectionString: url });
  try {
    await client.connect();
    const { rows } = await client.query(
      'SELECT migration_name, checksum, finished_at FROM _prisma_migrations WHERE rolled_back_at IS NULL',
    );
    // A failed migration leaves a row without finished_at: rebuild.
    if (rows.some((r) => r.finished_at === null)) return null;
    // Sorted in JS like the folder's lines, not by the database's collation.
    return rows
      .map((r) => `${r.migration_name} ${r.checksum}`)
      .sort((a, b) => a.localeCompare(b))
      .join('\n');
  } catch (error) {
    if (error.code === '3D000' || error.code === '42P01') return null; // no database / no table yet
    throw error;
  } finally {
    await client.end().catch(() => {});
  }
}
