import { randomUUID } from 'node:crypto';
import type { EventRequestInfo, RepositoryDeletePayload } from '@berth/events';
import { digestLockKey } from './locks';
import { writeOutboxEvent } from './outbox';
import { sql, type SqlClient } from './sql';

export type RepositoryDeleteResult =
  | { kind: 'deleted'; manifestsDeleted: string[]; tagsDeleted: string[] }
  | { kind: 'unknown' }
  /** Something in the repository has deleteEnabled=false; nothing was deleted. */
  | { kind: 'locked'; repository: boolean; manifests: string[]; tags: string[] };

/** The repository to delete, and who asked (for the repository.delete event). */
export interface RepositoryDeleteTarget {
  registryId: string;
  registryName: string;
  name: string;
  request: EventRequestInfo;
}

/** Runs `work` in one database transaction (the data plane's and the management API's own pools). */
export type TransactionRunner = <T>(work: (tx: SqlClient) => Promise<T>) => Promise<T>;

/** How many locked items a refusal names at most (the message must stay readable). */
const MAX_LOCKED_REPORTED = 20;
/** Attempts of a repository delete that found a digest lock taken, and the pause before the next (times the attempt). */
const DELETE_ATTEMPTS = 8;
const DELETE_RETRY_MS = 25;

/** Another transaction holds the usage lock of one of the repository's digests: roll back and start over. */
class DigestLockBusy extends Error {}

/** Thrown when the repository kept changing under a delete; the caller answers "retry". */
export class RepositoryBusy extends Error {}

/**
 * Deletes a repository: its manifests, tags, index references, blob links
 * and the repository row (so its lock attributes go too, as in ACR), with
 * one `repository.delete` outbox event, in one transaction. Blobs stay for
 * the garbage collector; once unlinked they can no longer be read through
 * this repository.
 *
 * Storage usage follows the manifest delete path: a manifest's bytes leave
 * Registry.storageUsedBytes when no other repository of the registry holds
 * the same digest, decided under the per-digest advisory lock the push and
 * delete paths take.
 *
 * Locks, in this order: the repository row FOR UPDATE (no manifest, tag or
 * blob link can be added to the repository until commit: their inserts
 * need a key-share lock on it), its tag rows, its manifest rows (the order
 * in which a /v2 untag takes a tag, then its manifest), then the digest
 * locks, only *tried*: a writer may hold a digest lock while it waits for
 * the repository row, so waiting for the digest here could deadlock. When one
 * is taken, everything rolls back and the delete starts over shortly after.
 */
export async function deleteRepository(inTransaction: TransactionRunner, target: RepositoryDeleteTarget): Promise<RepositoryDeleteResult> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await inTransaction((tx) => deleteRepositoryOnce(tx, target));
    } catch (error) {
      if (!(error instanceof DigestLockBusy)) throw error;
      if (attempt >= DELETE_ATTEMPTS) throw new RepositoryBusy(`repository ${target.name} kept being written to while being deleted`);
      await sleep(DELETE_RETRY_MS * attempt);
    }
  }
}

async function deleteRepositoryOnce(tx: SqlClient, target: RepositoryDeleteTarget): Promise<RepositoryDeleteResult> {
  const { registryId, name } = target;
  const repositories = await tx.rows<{ id: string; deleteEnabled: boolean }>(sql`
    SELECT "id", "deleteEnabled" FROM "Repository"
    WHERE "registryId" = ${registryId}::uuid AND "name" = ${name}
    FOR UPDATE`);
  const repository = repositories[0];
  if (!repository) return { kind: 'unknown' };
  const tags = await tx.rows<{ name: string; deleteEnabled: boolean }>(sql`
    SELECT "name", "deleteEnabled" FROM "Tag" WHERE "repositoryId" = ${repository.id}::uuid ORDER BY "name" FOR UPDATE`);
  const manifests = await tx.rows<{ digest: string; size: number; deleteEnabled: boolean }>(sql`
    SELECT "digest", "size", "deleteEnabled" FROM "Manifest" WHERE "repositoryId" = ${repository.id}::uuid ORDER BY "digest" FOR UPDATE`);

  // Read from the locked rows, so a lock attribute set a moment ago counts.
  const lockedManifests = manifests.filter((manifest) => !manifest.deleteEnabled).map((manifest) => manifest.digest);
  const lockedTags = tags.filter((tag) => !tag.deleteEnabled).map((tag) => tag.name);
  if (!repository.deleteEnabled || lockedManifests.length > 0 || lockedTags.length > 0) {
    return {
      kind: 'locked',
      repository: !repository.deleteEnabled,
      manifests: lockedManifests.slice(0, MAX_LOCKED_REPORTED),
      tags: lockedTags.slice(0, MAX_LOCKED_REPORTED),
    };
  }

  const digests = manifests.map((manifest) => manifest.digest);
  if (digests.length > 0) {
    const keys = digests.map((digest) => digestLockKey(registryId, digest));
    const taken = await tx.rows<{ all: boolean }>(sql`
      SELECT bool_and(pg_try_advisory_xact_lock(hashtext(k.key))) AS "all"
      FROM (SELECT key FROM unnest(${keys}::text[]) AS key ORDER BY key) AS k`);
    if (!taken[0]?.all) throw new DigestLockBusy();
  }

  // Children are referenced only from indexes of the same repository, so
  // dropping this repository's reference rows first frees every manifest.
  await tx.execute(sql`
    DELETE FROM "ManifestReference" mr USING "Manifest" m
    WHERE mr."parentId" = m."id" AND m."repositoryId" = ${repository.id}::uuid`);
  await tx.execute(sql`DELETE FROM "Tag" WHERE "repositoryId" = ${repository.id}::uuid`);
  await tx.execute(sql`DELETE FROM "Manifest" WHERE "repositoryId" = ${repository.id}::uuid`);
  await tx.execute(sql`DELETE FROM "RepositoryBlob" WHERE "repositoryId" = ${repository.id}::uuid`);
  await tx.execute(sql`DELETE FROM "Repository" WHERE "id" = ${repository.id}::uuid`);

  if (digests.length > 0) {
    const gone = await tx.rows<{ digest: string }>(sql`
      SELECT d."digest" FROM unnest(${digests}::text[]) AS d("digest")
      WHERE NOT EXISTS (SELECT 1 FROM "Manifest" m WHERE m."registryId" = ${registryId}::uuid AND m."digest" = d."digest")`);
    const goneSet = new Set(gone.map((row) => row.digest));
    const freed = manifests.reduce((sum, manifest) => (goneSet.has(manifest.digest) ? sum + BigInt(manifest.size) : sum), 0n);
    if (freed > 0n) {
      await tx.execute(sql`
        UPDATE "Registry" SET "storageUsedBytes" = GREATEST("storageUsedBytes" - ${freed}, 0) WHERE "id" = ${registryId}::uuid`);
    }
  }

  const deleted = { manifestsDeleted: digests, tagsDeleted: tags.map((tag) => tag.name) };
  const payload: RepositoryDeletePayload = {
    eventId: randomUUID(),
    timestamp: new Date().toISOString(),
    registryId,
    registryName: target.registryName,
    repository: name,
    ...deleted,
    request: target.request,
  };
  await writeOutboxEvent(tx, { registryId, type: 'repository.delete', payload });
  return { kind: 'deleted', ...deleted };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
