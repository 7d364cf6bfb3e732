import type { Db } from '@berth/db';
import type { UploadParts } from '@berth/storage';

export interface UploadSession {
  id: string;
  repositoryName: string;
  storageKey: string;
  offset: number;
  parts: UploadParts;
}

/**
 * Upload sessions live in Postgres (offset and the driver's parts state), so
 * any replica can continue an upload, also after a restart.
 */
export class UploadRepository {
  constructor(private readonly db: Db) {}

  async create(registryId: string, session: { id: string; repositoryName: string; storageKey: string; expiresAt: Date }): Promise<void> {
    await this.db.upload.create({
      data: {
        id: session.id,
        registryId,
        repositoryName: session.repositoryName,
        storageKey: session.storageKey,
        expiresAt: session.expiresAt,
      },
    });
  }

  /** The unexpired session `id` of this registry and repository. */
  async find(registryId: string, repositoryName: string, id: string, now: Date): Promise<UploadSession | undefined> {
    const row = await this.db.upload.findFirst({
      where: { id, registryId, repositoryName, expiresAt: { gt: now } },
      select: { id: true, repositoryName: true, storageKey: true, offset: true, parts: true },
    });
    if (!row) return undefined;
    return {
      id: row.id,
      repositoryName: row.repositoryName,
      storageKey: row.storageKey,
      offset: Number(row.offset),
      parts: Array.isArray(row.parts) ? (row.parts as UploadParts) : [],
    };
  }

  /**
   * Records appended bytes, only if nobody else moved the session meanwhile
   * (compare-and-set on the offset). Extends the expiry: an active upload
   * does not expire.
   */
  async advance(registryId: string, id: string, fromOffset: number, toOffset: number, parts: UploadParts, expiresAt: Date): Promise<boolean> {
    const result = await this.db.upload.updateMany({
      where: { id, registryId, offset: BigInt(fromOffset) },
      data: { offset: BigInt(toOffset), parts: parts as never, expiresAt },
    });
    return result.count === 1;
  }

  async delete(registryId: string, id: string): Promise<boolean> {
    const result = await this.db.upload.deleteMany({ where: { id, registryId } });
    return result.count === 1;
  }
}
