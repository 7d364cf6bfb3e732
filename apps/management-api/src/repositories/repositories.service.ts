import { Injectable } from '@nestjs/common';
import { RepositoryBusy } from '@berth/db';
import type { EventRequestInfo } from '@berth/events';
import { DEFAULT_PAGE_SIZE, PageQueryDto, decodeSkipToken, toPage } from '../common/paging';
import { MAX_REPOSITORY_NAME_LENGTH, REPOSITORY_PATTERN } from '../common/patterns';
import { RegistryAccess } from '../registries/registry-access.service';
import { DeletedRepositoryDto, RepositoryDto, RepositoryListDto, UpdateRepositoryDto } from './repositories.dto';
import { RepositoryException, RepositoryExceptionCode } from './repositories.exception';
import { RepositoriesRepository, type RepositoryRecord } from './repositories.repository';

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
      toDto,
      (row) => ({ name: row.name }),
    );
  }

  async get(registryName: string, repositoryName: string): Promise<RepositoryDto> {
    const registry = await this.access.get(registryName);
    const row = isRepositoryName(repositoryName) ? await this.repositories.find(registry.id, repositoryName) : null;
    if (!row) throw notFound(repositoryName, registry.name);
    return toDto(row);
  }

  /** Changes lock attributes (as ACR's PATCH /acr/v1/{repository}); the data plane sees them at once. */
  async update(registryName: string, repositoryName: string, changes: UpdateRepositoryDto): Promise<RepositoryDto> {
    const registry = await this.access.getWritable(registryName);
    const row = isRepositoryName(repositoryName) ? await this.repositories.updateAttributes(registry.id, repositoryName, changes) : null;
    if (!row) throw notFound(repositoryName, registry.name);
    return toDto(row);
  }

  /**
   * Deletes the repository with its manifests and tags (blobs go to garbage
   * collection), in the transaction /acr/v1 uses, and records one
   * repository.delete event for webhooks. Refused when anything in it is
   * locked (deleteEnabled=false).
   */
  async delete(registryName: string, repositoryName: string, request: EventRequestInfo): Promise<DeletedRepositoryDto> {
    const registry = await this.access.getWritable(registryName);
    if (!isRepositoryName(repositoryName)) throw notFound(repositoryName, registry.name);
    let result;
    try {
      result = await this.repositories.delete({ registryId: registry.id, registryName: registry.name, name: repositoryName, request });
    } catch (error) {
      if (!(error instanceof RepositoryBusy)) throw error;
      throw new RepositoryException(RepositoryExceptionCode.Busy, `Repository ${repositoryName} kept being written to while being deleted; retry.`);
    }
    switch (result.kind) {
      case 'unknown':
        throw notFound(repositoryName, registry.name);
      case 'locked': {
        const blockers = [
          ...(result.repository ? [`the repository`] : []),
          ...result.manifests.map((digest) => `manifest ${digest}`),
          ...result.tags.map((tag) => `tag ${tag}`),
        ];
        throw new RepositoryException(
          RepositoryExceptionCode.Locked,
          `Repository ${repositoryName} cannot be deleted: ${blockers.join(', ')} ${blockers.length === 1 ? 'has' : 'have'} deleteEnabled=false.`,
        );
      }
      case 'deleted':
        return { name: repositoryName, manifestsDeleted: result.manifestsDeleted, tagsDeleted: result.tagsDeleted };
    }
  }
}

function toDto(row: RepositoryRecord): RepositoryDto {
  return {
    name: row.name,
    createdTime: row.createdAt.toISOString(),
    lastUpdateTime: row.updatedAt.toISOString(),
    changeableAttributes: {
      deleteEnabled: row.deleteEnabled,
      writeEnabled: row.writeEnabled,
      readEnabled: row.readEnabled,
      listEnabled: row.listEnabled,
    },
  };
}

function isRepositoryName(name: string): boolean {
  return name.length <= MAX_REPOSITORY_NAME_LENGTH && REPOSITORY_PATTERN.test(name);
}

function notFound(repositoryName: string, registryName: string): RepositoryException {
  return new RepositoryException(RepositoryExceptionCode.NotFound, `Repository ${repositoryName} does not exist in registry ${registryName}.`);
}
