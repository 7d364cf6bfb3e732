import { randomUUID } from 'node:crypto';
import { sql, type SqlClient } from '@berth/db/plain';
import { OciError } from '@berth/oci';
import { lockServingRegistry } from '../registries/registry.repository';

export interface RepositoryFlags {
  id: string;
  deleteEnabled: boolean;
  writeEnabled: boolean;
  readEnabled: boolean;
  listEnabled: boolean;
}

/** Repository rows: created implicitly by the first upload or manifest push. */
export class RepositoryRepository {
  constructor(private readonly db: SqlClient) {}

  async findFlags(registryId: string, name: string): Promise<RepositoryFlags | undefined> {
    const rows = await this.db.rows<RepositoryFlags>(sql`
      SELECT "id", "deleteEnabled", "writeEnabled", "readEnabled", "listEnabled" FROM "Repository"
      WHERE "registryId" = ${registryId}::uuid AND "name" = ${name}`);
    return rows[0];
  }
}

/**
 * Locks the serving registry and the repository (see lockServingRegistry)
 * and returns the repository's id and write flag, creating the repository
 * when missing: one statement when it exists. Race-safe: concurrent creators
 * meet on the unique (registryId, name) index and the loser locks the
 * winner's row; a repository deleted while this waited is created anew.
 */
export async function ensureRepository(tx: SqlClient, registryId: string, name: string): Promise<{ id: string; writeEnabled: boolean }> {
  for (let attempt = 1; ; attempt++) {
    const found = await lockServingRegistry(tx, registryId, name);
    if (found) return found;
    const inserted = await tx.rows<{ id: string; writeEnabled: boolean }>(sql`
      INSERT INTO "Repository" ("id", "registryId", "name", "updatedAt")
      VALUES (${randomUUID()}::uuid, ${registryId}::uuid, ${name}, ${new Date()})
      ON CONFLICT ("registryId", "name") DO NOTHING
      RETURNING "id", "writeEnabled"`);
    if (inserted[0]) return inserted[0];
    // Another transaction created it first: lock theirs (next attempt). Only a
    // repository created and deleted again under our feet, over and over, ends here.
    if (attempt >= ENSURE_REPOSITORY_ATTEMPTS) {
      throw new OciError('UNAVAILABLE', {
        message: `repository ${name} is being created and deleted concurrently; retry`,
        headers: { 'Retry-After': '1' },
      });
    }
  }
}

const ENSURE_REPOSITORY_ATTEMPTS = 3;
