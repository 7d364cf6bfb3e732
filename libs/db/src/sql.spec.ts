import { createTestDatabase, type TestDatabase } from '@berth/testing';
import { compileSql, sql, SqlPool, SqlUnavailableError } from './sql';

describe('sql tag', () => {
  it('numbers parameters across nested fragments, joins and raw text', () => {
    const filters = sql.join([sql`"a" = ${1}`, sql`"b" = ${'two'}`], ' AND ');
    const compiled = compileSql(sql`SELECT ${sql.raw('"x"')} FROM t WHERE ${filters} AND "c" > ${3n}${sql.empty} LIMIT ${4}`);
    expect(compiled).toEqual({ text: 'SELECT "x" FROM t WHERE "a" = $1 AND "b" = $2 AND "c" > $3 LIMIT $4', values: [1, 'two', '3', 4] });
  });

  it('sends dates as UTC and an empty join as nothing', () => {
    const at = new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678));
    expect(compileSql(sql`SELECT ${at}${sql.join([], ', ')}`)).toEqual({ text: 'SELECT $1', values: ['2026-01-02T03:04:05.678Z'] });
  });

  it('compiles a call site once and gives each call its own values', () => {
    const query = (value: number) => compileSql(sql`SELECT ${value}::int AS "v"`);
    const [first, second] = [query(1), query(2)];
    expect(first.text).toBe(second.text);
    expect([first.values, second.values]).toEqual([[1], [2]]);
  });
});

describe('SqlPool against Postgres', () => {
  let database: TestDatabase;
  let pool: SqlPool;

  beforeAll(async () => {
    database = await createTestDatabase();
    pool = new SqlPool(database.url, { maxConnections: 3, connectionTimeoutMs: 300 });
    await pool.execute(sql`CREATE TABLE sql_spec (id bigserial PRIMARY KEY, n int8, at timestamp(3), doc jsonb, bytes bytea, ids int8[])`);
  });

  afterAll(async () => {
    await pool.close();
    await database.drop();
  });

  it('returns values as Prisma raw queries do: int8 as bigint, timestamps as UTC, jsonb parsed, bytea as bytes', async () => {
    const at = new Date(Date.UTC(2026, 10, 23, 12, 30, 45, 123));
    const [row] = await pool.rows<{ id: bigint; n: bigint; at: Date; doc: unknown; bytes: Buffer; ids: bigint[] }>(sql`
      INSERT INTO sql_spec (n, at, doc, bytes, ids)
      VALUES (${9_007_199_254_740_993n}, ${at}, ${JSON.stringify({ a: [1, 'b'] })}::jsonb, ${Buffer.from([0, 255, 7])}, ${[1n, 2n]}::int8[])
      RETURNING *`);
    expect(row!.n).toBe(9_007_199_254_740_993n);
    expect(typeof row!.id).toBe('bigint');
    expect(row!.at.toISOString()).toBe(at.toISOString());
    expect(row!.doc).toEqual({ a: [1, 'b'] });
    expect([...row!.bytes]).toEqual([0, 255, 7]);
    expect(row!.ids).toEqual([1n, 2n]);
    expect(await pool.execute(sql`UPDATE sql_spec SET n = n + 1 WHERE id = ${row!.id}`)).toBe(1);
  });

  it('commits what a transaction wrote and rolls everything back when it throws', async () => {
    const marker = BigInt(Date.now());
    await pool.transaction((tx) => tx.execute(sql`INSERT INTO sql_spec (n) VALUES (${marker})`));
    await expect(
      pool.transaction(async (tx) => {
        await tx.execute(sql`INSERT INTO sql_spec (n) VALUES (${marker + 1n})`);
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    const rows = await pool.rows<{ n: bigint }>(sql`SELECT n FROM sql_spec WHERE n IN (${marker}, ${marker + 1n}) ORDER BY n`);
    expect(rows.map((row) => row.n)).toEqual([marker]);
  });

  it('turns off synchronous commit for that transaction only when asked', async () => {
    const inside = await pool.transaction((tx) => tx.rows<{ synchronous_commit: string }>(sql`SHOW synchronous_commit`), { synchronousCommit: false });
    expect(inside[0]!.synchronous_commit).toBe('off');
    const after = await pool.transaction((tx) => tx.rows<{ synchronous_commit: string }>(sql`SHOW synchronous_commit`));
    expect(after[0]!.synchronous_commit).toBe('on');
  });

  it('runs repeated statements as named prepared statements', async () => {
    const names = await pool.transaction(async (tx) => {
      await tx.rows(sql`SELECT count(*) FROM sql_spec WHERE n > ${0}`);
      await tx.rows(sql`SELECT count(*) FROM sql_spec WHERE n > ${1}`);
      return tx.rows<{ name: string; statement: string }>(sql`SELECT name, statement FROM pg_prepared_statements WHERE statement = ${'SELECT count(*) FROM sql_spec WHERE n > $1'}`);
    });
    expect(names).toEqual([{ name: expect.stringMatching(/^berth_\d+$/), statement: 'SELECT count(*) FROM sql_spec WHERE n > $1' }]);
  });

  it('rolls back a transaction that outlives its timeout, releasing its locks, and fails its later statements', async () => {
    const [row] = await pool.rows<{ id: bigint }>(sql`INSERT INTO sql_spec (n) VALUES (1) RETURNING id`);
    let lockedAgain: Promise<unknown> | undefined;
    const slow = pool.transaction(
      async (tx) => {
        await tx.rows(sql`SELECT id FROM sql_spec WHERE id = ${row!.id} FOR UPDATE`);
        await new Promise((resolve) => setTimeout(resolve, 400));
        // The row lock was released at the timeout: another transaction can take it now.
        lockedAgain = pool.transaction((other) => other.rows(sql`SELECT id FROM sql_spec WHERE id = ${row!.id} FOR UPDATE NOWAIT`));
        await lockedAgain;
        await tx.execute(sql`UPDATE sql_spec SET n = 2 WHERE id = ${row!.id}`);
      },
      { timeoutMs: 150 },
    );
    await expect(slow).rejects.toMatchObject({ name: 'SqlUnavailableError', reason: 'transaction-timeout' });
    await expect(lockedAgain).resolves.toHaveLength(1);
    const [after] = await pool.rows<{ n: bigint }>(sql`SELECT n FROM sql_spec WHERE id = ${row!.id}`);
    expect(after!.n).toBe(1n);
  });

  it('refuses with SqlUnavailableError when no connection becomes free in time, and recovers', async () => {
    const small = new SqlPool(database.url, { maxConnections: 1, connectionTimeoutMs: 200 });
    try {
      let release!: () => void;
      const holding = small.transaction(() => new Promise<void>((resolve) => (release = resolve)));
      const refused = small.rows(sql`SELECT 1 AS "one"`);
      await expect(refused).rejects.toBeInstanceOf(SqlUnavailableError);
      await expect(refused).rejects.toMatchObject({ reason: 'no-connection' });
      release();
      await holding;
      await expect(small.rows(sql`SELECT 1 AS "one"`)).resolves.toEqual([{ one: 1 }]);
    } finally {
      await small.close();
    }
  });

  it('opens its minimum of connections on warm() and keeps them however long they sit idle, closing only the ones above it', async () => {
    const name = `sql-spec-warm-${process.pid}`;
    const warm = new SqlPool(database.url, { maxConnections: 5, minConnections: 2, idleTimeoutMs: 100, applicationName: name });
    const backends = async () =>
      Number((await pool.rows<{ n: bigint }>(sql`SELECT count(*) AS "n" FROM pg_stat_activity WHERE application_name = ${name}`))[0]!.n);
    try {
      await warm.warm();
      expect(warm.size).toBe(2);
      expect(await backends()).toBe(2);
      // A burst needs five at once; afterwards the three above the minimum idle out.
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const burst = Array.from({ length: 5 }, () => warm.transaction(() => gate));
      await waitFor(() => warm.size === 5);
      release();
      await Promise.all(burst);
      await waitFor(() => warm.size === 2);
      await new Promise((resolve) => setTimeout(resolve, 300)); // three idle timeouts later
      expect(warm.size).toBe(2);
      expect(await backends()).toBe(2);
      await warm.warm(); // already at its minimum: opens nothing
      expect(warm.size).toBe(2);
    } finally {
      await warm.close();
    }
  });

  it('rejects warm() when the database cannot be reached', async () => {
    const unreachable = new SqlPool('postgresql://postgres@127.0.0.1:1/nowhere', { minConnections: 2, connectionTimeoutMs: 500 });
    try {
      await expect(unreachable.warm()).rejects.toThrow();
      expect(unreachable.size).toBe(0);
    } finally {
      await unreachable.close();
    }
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
