import type { Tx } from './client';
import { sql, type SqlClient } from './sql';

export interface OutboxEventInput {
  registryId: string | null;
  type: string;
  payload: object;
}

/**
 * Records an event in the outbox. Call it with the transaction that makes the
 * change, so the event exists if and only if the change committed; the
 * worker's relay publishes it to BullMQ afterwards. Takes a Prisma
 * transaction (management API, worker) or a SqlClient transaction (data plane).
 */
export async function writeOutboxEvent(tx: Tx | SqlClient, event: OutboxEventInput): Promise<bigint> {
  if ('rows' in tx) {
    const [row] = await tx.rows<{ id: bigint }>(sql`
      INSERT INTO "OutboxEvent" ("registryId", "type", "payload")
      VALUES (${event.registryId}::uuid, ${event.type}, ${JSON.stringify(event.payload)}::jsonb)
      RETURNING "id"`);
    return row!.id;
  }
  const row = await tx.outboxEvent.create({
    data: { registryId: event.registryId, type: event.type, payload: event.payload as never },
    select: { id: true },
  });
  return row.id;
}
