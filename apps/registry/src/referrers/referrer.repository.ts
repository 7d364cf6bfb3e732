import { sql, type SqlClient } from '@berth/db/plain';

export interface Referrer {
  digest: string;
  mediaType: string;
  size: number;
  artifactType: string | null;
  annotations: Record<string, string> | null;
}

/** Manifests whose `subject` is a given digest, via the (repositoryId, subjectDigest) index. */
export class ReferrerRepository {
  constructor(private readonly db: SqlClient) {}

  async findReferrers(registryId: string, repositoryName: string, subjectDigest: string, artifactType: string | undefined): Promise<Referrer[]> {
    const rows = await this.db.rows<Referrer & { size: number }>(sql`
      SELECT m."digest", m."mediaType", m."size", COALESCE(m."artifactType", m."configMediaType") AS "artifactType", m."annotations"
      FROM "Repository" r
      JOIN "Manifest" m ON m."repositoryId" = r."id"
      WHERE r."registryId" = ${registryId}::uuid AND r."name" = ${repositoryName} AND m."subjectDigest" = ${subjectDigest}
        AND m."readEnabled"
      ORDER BY m."id"
      LIMIT 10000`);
    const all = rows.map((row) => ({ ...row, size: Number(row.size) }));
    return artifactType === undefined ? all : all.filter((row) => row.artifactType === artifactType);
  }
}
