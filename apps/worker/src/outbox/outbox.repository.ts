import type { Db, Tx } from '@berth/db';

export interface OutboxRow {
  id: bigint;
  registryId: string | null;
  type: string;
  payload: unknown;
}

export type PublishResult = { ok: true } | { ok: false; error: string; retryLater: boolean };

/**
 * The relay's side of the outbox. Rows are claimed with
 * `FOR UPDATE SKIP LOCKED` inside a transaction, so relays of several worker
 * replicas never take the same row; a row is marked sent in the same
 * transaction that claimed it, after its job was added.
 */
export class OutboxRepository {
  constructor(
    private readonly db: Db,
    private readonly transactionTimeoutMs = 30_000,
  ) {}

  /**
   * Claims up to `limit` unsent rows in id order and publishes them one by
   * one. A failure that may heal (Redis down) ends the batch: the row keeps
   * its place, with `attempts` and `lastError` recorded. A row that can never
   * be published is marked sent with its error, so it cannot block the outbox.
   * Returns how many rows were claimed.
   */
  async relayBatch(limit: number, publish: (row: OutboxRow) => Promise<PublishResult>): Promise<number> {
    return this.db.$transaction(
      async (tx) => {
        const rows = await tx.$queryRaw<OutboxRow[]>`
          SELECT id, "registryId", type, payload FROM "OutboxEvent"
          WHERE "sentAt" IS NULL ORDER BY id LIMIT ${limit} FOR UPDATE SKIP LOCKED`;
        const sent: bigint[] = [];
        for (const row of rows) {
          const result = await publish(row);
          if (result.ok) {
            sent.push(row.id);
            continue;
          }
          if (result.retryLater) {
            await this.recordFailure(tx, row.id, result.error, false);
            break;
          }
          await this.recordFailure(tx, row.id, result.error, true);
        }
        if (sent.length > 0) {
          await tx.$executeRaw`
            UPDATE "OutboxEvent" SET "sentAt" = now(), attempts = attempts + 1, "lastError" = NULL
            WHERE id = ANY(${sent}::bigint[])`;
        }
        return rows.length;
      },
      { timeout: this.transactionTimeoutMs, maxWait: this.transactionTimeoutMs },
    );
  }

  /** Unsent rows, for the backlog gauge. */
  async countPending(): Promise<number> {
    const [row] = await this.db.$queryRaw<Array<{ n: bigint }>>`SELECT count(*) AS n FROM "OutboxEvent" WHERE "sentAt" IS NULL`;
    return Number(row?.n ?? 0);
  }

  private async recordFailure(tx: Tx, id: bigint, error: string, giveUp: boolean): Promise<void> {
    await tx.$executeRaw`
      UPDATE "OutboxEvent" SET attempts = attempts + 1, "lastError" = ${error.slice(0, 1000)},
        "sentAt" = CASE WHEN ${giveUp} THEN now() ELSE NULL END
      WHERE id = ${id}`;
  }
}
