import { Inject, Injectable } from '@nestjs/common';
import type { Db } from '@berth/db';
import { DB } from '../common/tokens';

export interface RepositoryRecord {
  name: string;
  deleteEnabled: boolean;
  writeEnabled: boolean;
  readEnabled: boolean;
  listEnabled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

@Injectable()
export class RepositoriesRepository {
  constructor(@Inject(DB) private readonly db: Db) {}

  /** Repositories of one registry ordered by name, after `afterName` (exclusive). */
  listRepositories(registryId: string, afterName: string | undefined, take: number): Promise<RepositoryRecord[]> {
    return this.db.repository.findMany({
      where: { registryId, ...(afterName === undefined ? {} : { name: { gt: afterName } }) },
      orderBy: { name: 'asc' },
      take,
      select: {
        name: true,
        deleteEnabled: true,
        writeEnabled: true,
        readEnabled: true,
        listEnabled: true,
        createdAt: true,
        updatedAt: true,
      },
    });
  }
}
