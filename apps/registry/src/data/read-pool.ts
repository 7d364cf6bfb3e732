import { Pool, type QueryResultRow } from 'pg';

/**
 * A small pg pool for the data plane's hottest reads (manifest by tag or
 * digest, blob lookups): named prepared statements, parsed once per
 * connection, answer several times faster than Prisma's raw queries, which
 * matters on the pull path. Everything that writes goes through Prisma.
 */
export class ReadPool {
  private readonly pool: Pool;

  constructor(databaseUrl: string, maxConnections = 10) {
    this.pool = new Pool({ connectionString: databaseUrl, max: maxConnections });
    // An idle client's error (e.g. the server restarted) must not crash the process; the next query reconnects.
    this.pool.on('error', () => undefined);
  }

  /** Runs a named prepared statement; `name` must always be used with the same `text`. */
  async query<T extends QueryResultRow>(name: string, text: string, values: unknown[]): Promise<T[]> {
    const result = await this.pool.query<T>({ name, text, values });
    return result.rows;
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}
