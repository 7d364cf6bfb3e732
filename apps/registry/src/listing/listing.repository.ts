import { sql, type SqlClient } from '@berth/db/plain';

/**
 * Index-driven listings: `name > last ORDER BY name LIMIT n` walks the unique
 * (registryId, name) / (repositoryId, name) indexes, so a page costs the same
 * whatever the total count. Rows with listEnabled=false are hidden.
 */
export class ListingRepository {
  constructor(private readonly db: SqlClient) {}

  /** Repository names with at least one manifest, after `last`; `limit` undefined = all. */
  async repositoryNames(registryId: string, last: string, limit: number): Promise<string[]> {
    const rows = await this.db.rows<{ name: string }>(sql`
      SELECT r."name" FROM "Repository" r
      WHERE r."registryId" = ${registryId}::uuid AND r."name" > ${last} AND r."listEnabled"
        AND EXISTS (SELECT 1 FROM "Manifest" m WHERE m."repositoryId" = r."id")
      ORDER BY r."name"
      LIMIT ${limit}`);
    return rows.map((row) => row.name);
  }

  /** The repository's id, or undefined when it does not exist. */
  async repositoryId(registryId: string, name: string): Promise<string | undefined> {
    const rows = await this.db.rows<{ id: string }>(sql`SELECT "id" FROM "Repository" WHERE "registryId" = ${registryId}::uuid AND "name" = ${name}`);
    return rows[0]?.id;
  }

  async tagNames(repositoryId: string, last: string, limit: number | undefined): Promise<string[]> {
    const rows =
      limit === undefined
        ? await this.db.rows<{ name: string }>(sql`
            SELECT "name" FROM "Tag" WHERE "repositoryId" = ${repositoryId}::uuid AND "name" > ${last} AND "listEnabled"
            ORDER BY "name"`)
        : await this.db.rows<{ name: string }>(sql`
            SELECT "name" FROM "Tag" WHERE "repositoryId" = ${repositoryId}::uuid AND "name" > ${last} AND "listEnabled"
            ORDER BY "name" LIMIT ${limit}`);
    return rows.map((row) => row.name);
  }
}
