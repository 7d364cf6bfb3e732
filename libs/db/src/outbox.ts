import type { Tx } from './client';

/**
 * Records an event in the outbox. Call it with the transaction that makes the
 * change, so the event exists if and only if the change committed; the
 * worker's relay publishes it to BullMQ afterwards.
 */
export async function writeOutboxEvent(
  tx: Tx,
  event: { registryId: string | null; type: string; payload: object },
): Promise<bigint> {
  const row = await tx.outboxEvent.create({
    data: { registryId: event.registryId, type: event.type, payload: event.payload as never },
    select: { id: true },
  });
  return row.id;
}
