import { Inject, Injectable } from '@nestjs/common';
import { deleteRepository, type Db, type RepositoryDeleteResult, type RepositoryDeleteTarget, type SqlPool } from '@berth/db';
import { DB, SQL } from '../common/tokens';
import type { UpdateRepositoryDto } from './repositories.dto';

export interface RepositoryRecord {
  name: string;
  deleteEnabled: boolean;
  writeEnabled: boolean;
  readEnabled: boolean;
  listEnabled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

const RECORD = {
  name: true,
  deleteEnabled: true,
  writeEnabled: true,
  readEnabled: true,
  listEnabled: true,
  createdAt: true,
  updatedAt: true,
} as const;

@Injectable()
export class RepositoriesRepository {
  constructor(
    @Inject(DB) private readonly db: Db,
    @Inject(SQL) private readonly sql: SqlPool,
  ) {}

  /** Repositories of one registry ordered by name, after `afterName` (exclusive). */
  listRepositories(registryId: string, afterName: string | undefined, take: number): Promise<RepositoryRecord[]> {
    return this.db.repository.findMany({
      where: { registryId, ...(afterName === undefined ? {} : { name: { gt: afterName } }) },
      orderBy: { name: 'asc' },
      take,
      select: RECORD,
    });
  }

  find(registryId: string, name: string): Promise<RepositoryRecord | null> {
    return this.db.repository.findUnique({ where: { registryId_name: { registryId, name } }, select: RECORD });
  }

  /** Sets the given lock attributes and returns the repository; null when there is no such repository. */
  async updateAttributes(registryId: string, name: string, changes: UpdateRepositoryDto): Promise<RepositoryRecord | null> {
    const { count } = await this.db.repository.updateMany({ where: { registryId, name }, data: changes });
    return count === 1 ? this.find(registryId, name) : null;
  }

  /** The data plane's repository delete (same transaction, locks and outbox event), on this app's SQL pool. */
  delete(target: RepositoryDeleteTarget): Promise<RepositoryDeleteResult> {
    return deleteRepository((work) => this.sql.transaction(work, { timeoutMs: 30_000 }), target);
  }
}
