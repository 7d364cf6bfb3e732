import { sql, type SqlClient, type SqlPool, type TransactionOptions } from '@berth/db/plain';
import type { UploadParts } from '@berth/storage';

export interface UploadSession {
  id: string;
  repositoryName: string;
  storageKey: string;
  offset: number;
  parts: UploadParts;
}

/** Why a session was (not) created. */
export type SessionStart = { kind: 'created' } | { kind: 'locked' } | { kind: 'over-quota'; usedBytes: number } | { kind: 'not-serving' };

interface SessionRow {
  id: string;
  repositoryName: string;
  storageKey: string;
  offset: bigint;
  parts: unknown;
}

/** Session bookkeeping a database crash may lose without harm (see `create` and `withLockedSession`). */
const ASYNC_COMMIT: TransactionOptions = { synchronousCommit: false };

/** The longest a chunk may stream while its session is locked (Node timers cap at ~24.8 days). */
const MAX_LOCK_MS = 24 * 3600 * 1000;

/**
 * Upload sessions live in Postgres (offset and the driver's parts state), so
 * any replica can continue an upload, also after a restart. Expiry is
 * decided by the database clock.
 *
 * Every request that changes a session (PATCH, PUT, DELETE) holds its row
 * `FOR UPDATE` for the whole request, bytes streaming included
 * (`withLockedSession`): concurrent chunks of one upload, on any replicas,
 * run one after the other, and the worker's upload expiry (which locks with
 * SKIP LOCKED) never removes a session in use. Those transactions run on
 * their own connection pool (`sessions`), so long uploads cannot starve the
 * rest of the data plane of connections; its size bounds the chunks that
 * stream at once per process (the others wait for a connection).
 */
export class UploadRepository {
  private readonly lockOptions: TransactionOptions;

  constructor(
    private readonly db: SqlPool,
    private readonly sessions: SqlPool,
    private readonly expirySeconds: number,
  ) {
    this.lockOptions = { timeoutMs: Math.min(expirySeconds * 1000, MAX_LOCK_MS) };
  }

  /**
   * Creates a session, in one statement that also checks what would refuse
   * it, in this order: the repository is locked (writeEnabled=false), the
   * registry is at its storage quota, the registry no longer serves (being
   * deleted). Committed without waiting for the WAL flush: a session lost to
   * a database crash answers BLOB_UPLOAD_UNKNOWN and the client starts over,
   * as it would after the session expired.
   */
  async create(
    registryId: string,
    session: { id: string; repositoryName: string; storageKey: string },
    quotaBytes: number,
  ): Promise<SessionStart> {
    const rows = await this.db.transaction((tx) => tx.rows<{ state: string; usedBytes: bigint; writeEnabled: boolean | null; created: boolean }>(sql`
      WITH r AS (
        SELECT r."id", r."provisioningState"::text AS "state", r."storageUsedBytes" AS "usedBytes", p."writeEnabled"
        FROM "Registry" r LEFT JOIN "Repository" p ON p."registryId" = r."id" AND p."name" = ${session.repositoryName}
        WHERE r."id" = ${registryId}::uuid
      ), created AS (
        INSERT INTO "Upload" ("id", "registryId", "repositoryName", "storageKey", "createdAt", "updatedAt", "expiresAt")
        SELECT ${session.id}::uuid, r."id", ${session.repositoryName}, ${session.storageKey}, now(), now(),
               now() + make_interval(secs => ${this.expirySeconds})
        FROM r WHERE r."writeEnabled" IS NOT FALSE AND r."usedBytes" < ${BigInt(quotaBytes)} AND r."state" = 'Succeeded'
        RETURNING 1
      )
      SELECT r."state", r."usedBytes", r."writeEnabled", EXISTS (SELECT 1 FROM created) AS "created" FROM r`), ASYNC_COMMIT);
    const row = rows[0];
    if (row?.created) return { kind: 'created' };
    if (row?.writeEnabled === false) return { kind: 'locked' };
    if (row && row.usedBytes >= BigInt(quotaBytes)) return { kind: 'over-quota', usedBytes: Number(row.usedBytes) };
    return { kind: 'not-serving' };
  }

  /** The unexpired session `id` of this registry and repository (no lock: status requests). */
  async find(registryId: string, repositoryName: string, id: string): Promise<UploadSession | undefined> {
    const rows = await this.db.rows<SessionRow>(sql`
      SELECT "id"::text AS "id", "repositoryName", "storageKey", "offset", "parts" FROM "Upload"
      WHERE "id" = ${id}::uuid AND "registryId" = ${registryId}::uuid AND "repositoryName" = ${repositoryName} AND "expiresAt" > now()`);
    return toSession(rows[0]);
  }

  /**
   * Runs `work` in a transaction holding the unexpired session's row FOR
   * UPDATE (waiting for a request that holds it). Undefined when there is no
   * such session. What `work` writes through `tx` commits with it; an
   * exception rolls it all back.
   *
   * `durable: false` (PATCH) commits without waiting for the WAL flush: a
   * database crash may then forget the last chunks' progress, and the
   * client's next chunk is answered 416 with the recorded offset, so nothing
   * wrong is ever stored. Completion (PUT) always commits durably.
   */
  async withLockedSession<T>(
    registryId: string,
    repositoryName: string,
    id: string,
    work: (tx: SqlClient, session: UploadSession) => Promise<T>,
    durable = true,
  ): Promise<{ value: T } | undefined> {
    return this.sessions.transaction(async (tx) => {
      const rows = await tx.rows<SessionRow>(sql`
        SELECT "id"::text AS "id", "repositoryName", "storageKey", "offset", "parts" FROM "Upload"
        WHERE "id" = ${id}::uuid AND "registryId" = ${registryId}::uuid AND "repositoryName" = ${repositoryName}
          AND "expiresAt" > statement_timestamp()
        FOR UPDATE`);
      const session = toSession(rows[0]);
      if (!session) return undefined;
      return { value: await work(tx, session) };
    }, durable ? this.lockOptions : { ...this.lockOptions, ...ASYNC_COMMIT });
  }

  /**
   * Records appended bytes of a locked session and extends its expiry (an
   * active upload does not expire). statement_timestamp(), not now(): the
   * transaction may have started long ago, when the chunk began to stream.
   */
  async advance(tx: SqlClient, registryId: string, id: string, fromOffset: number, toOffset: number, parts: UploadParts): Promise<boolean> {
    const count = await tx.execute(sql`
      UPDATE "Upload" SET "offset" = ${BigInt(toOffset)}, "parts" = ${JSON.stringify(parts)}::jsonb, "updatedAt" = statement_timestamp(),
             "expiresAt" = statement_timestamp() + make_interval(secs => ${this.expirySeconds})
      WHERE "id" = ${id}::uuid AND "registryId" = ${registryId}::uuid AND "offset" = ${BigInt(fromOffset)}`);
    return count === 1;
  }

  /** Deletes a session (idempotent); through `tx` when the caller holds its row. */
  async delete(registryId: string, id: string, tx?: SqlClient): Promise<boolean> {
    const count = await (tx ?? this.db).execute(sql`DELETE FROM "Upload" WHERE "id" = ${id}::uuid AND "registryId" = ${registryId}::uuid`);
    return count === 1;
  }
}

function toSession(row: SessionRow | undefined): UploadSession | undefined {
  if (!row) return undefined;
  return {
    id: row.id,
    repositoryName: row.repositoryName,
    storageKey: row.storageKey,
    offset: Number(row.offset),
    parts: Array.isArray(row.parts) ? (row.parts as UploadParts) : [],
  };
}
