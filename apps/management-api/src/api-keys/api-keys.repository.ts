import { Inject, Injectable } from '@nestjs/common';
import type { Db } from '@berth/db';
import { DB } from '../common/tokens';

export interface ApiKeyRecord {
  id: string;
  name: string;
  prefix: string;
  keyHash: string;
  createdAt: Date;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
}

/** Operator keys are installation-wide, so unlike other repositories these methods take no registry id. */
@Injectable()
export class ApiKeysRepository {
  constructor(@Inject(DB) private readonly db: Db) {}

  createKey(name: string, prefix: string, keyHash: string): Promise<ApiKeyRecord> {
    return this.db.apiKey.create({ data: { name, prefix, keyHash } });
  }

  listKeys(): Promise<ApiKeyRecord[]> {
    return this.db.apiKey.findMany({ orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });
  }

  findKeyByPrefix(prefix: string): Promise<ApiKeyRecord | null> {
    return this.db.apiKey.findUnique({ where: { prefix } });
  }

  /** Stamps the revocation once; revoking again keeps the first timestamp. Null when there is no such key. */
  async revokeKey(id: string): Promise<ApiKeyRecord | null> {
    await this.db.apiKey.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: new Date() } });
    return this.db.apiKey.findUnique({ where: { id } });
  }

  /** At most one write a minute per key, so authentication does not write on every request. */
  async recordKeyUse(id: string, now = new Date()): Promise<void> {
    const staleBefore = new Date(now.getTime() - 60_000);
    await this.db.apiKey.updateMany({
      where: { id, OR: [{ lastUsedAt: null }, { lastUsedAt: { lt: staleBefore } }] },
      data: { lastUsedAt: now },
    });
  }
}
