import { Injectable } from '@nestjs/common';
import { DEFAULT_PAGE_SIZE, PageQueryDto, decodeSkipToken, toPage } from '../common/paging';
import { RegistryAccess } from '../registries/registry-access.service';
import { RepositoryListDto } from './repositories.dto';
import { RepositoriesRepository } from './repositories.repository';

@Injectable()
export class RepositoriesService {
  constructor(
    private readonly access: RegistryAccess,
    private readonly repositories: RepositoriesRepository,
  ) {}

  async list(registryName: string, query: PageQueryDto, path: string): Promise<RepositoryListDto> {
    const registry = await this.access.get(registryName);
    const top = query.top ?? DEFAULT_PAGE_SIZE;
    const after = decodeSkipToken(query.skipToken, ['name'] as const);
    const rows = await this.repositories.listRepositories(registry.id, after?.name, top + 1);
    return toPage(
      rows,
      top,
      path,
      (row) => ({
        name: row.name,
        createdTime: row.createdAt.toISOString(),
        lastUpdateTime: row.updatedAt.toISOString(),
        changeableAttributes: {
          deleteEnabled: row.deleteEnabled,
          writeEnabled: row.writeEnabled,
          readEnabled: row.readEnabled,
          listEnabled: row.listEnabled,
        },
      }),
      (row) => ({ name: row.name }),
    );
  }
}
