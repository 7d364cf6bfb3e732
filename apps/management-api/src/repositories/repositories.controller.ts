import { Body, Controller, Delete, Get, Param, Patch, Query, Req } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { ApiAuthenticated, ApiOwnerPrincipal, ApiProblems } from '../common/api-docs';
import type { HttpRequest } from '../common/http-types';
import { PageQueryDto } from '../common/paging';
import { DeletedRepositoryDto, RepositoryDto, RepositoryListDto, UpdateRepositoryDto } from './repositories.dto';
import { RepositoriesService } from './repositories.service';

const REPOSITORY_PARAM = 'Repository name with its slashes URL-encoded, e.g. team%2Fapp%2Fweb';

@ApiTags('Repositories')
@ApiAuthenticated()
@ApiOwnerPrincipal()
@Controller('registries/:registryName/repositories')
export class RepositoriesController {
  constructor(private readonly repositories: RepositoriesService) {}

  @Get()
  @ApiOperation({ summary: 'List the registry\'s repositories, ordered by name (paged)' })
  @ApiOkResponse({ type: RepositoryListDto })
  @ApiProblems(404)
  list(@Param('registryName') registryName: string, @Query() query: PageQueryDto): Promise<RepositoryListDto> {
    const path = `/api/v1/registries/${encodeURIComponent(registryName.toLowerCase())}/repositories`;
    return this.repositories.list(registryName, query, path);
  }

  @Get(':repository')
  @ApiOperation({ summary: 'Get a repository and its lock attributes' })
  @ApiParam({ name: 'repository', description: REPOSITORY_PARAM })
  @ApiOkResponse({ type: RepositoryDto })
  @ApiProblems(404)
  get(@Param('registryName') registryName: string, @Param('repository') repository: string): Promise<RepositoryDto> {
    return this.repositories.get(registryName, repository);
  }

  @Patch(':repository')
  @ApiOperation({ summary: 'Change lock attributes (deleteEnabled, writeEnabled, readEnabled, listEnabled)' })
  @ApiParam({ name: 'repository', description: REPOSITORY_PARAM })
  @ApiOkResponse({ type: RepositoryDto })
  @ApiProblems(404, 409)
  update(@Param('registryName') registryName: string, @Param('repository') repository: string, @Body() body: UpdateRepositoryDto): Promise<RepositoryDto> {
    return this.repositories.update(registryName, repository, body);
  }

  @Delete(':repository')
  @ApiOperation({
    summary: 'Delete a repository with its manifests and tags',
    description: 'Blobs are reclaimed by garbage collection. 409 when something in it has deleteEnabled=false; 503 (Retry-After) when pushes kept changing it.',
  })
  @ApiParam({ name: 'repository', description: REPOSITORY_PARAM })
  @ApiOkResponse({ type: DeletedRepositoryDto })
  @ApiProblems(404, 409, 503)
  delete(@Param('registryName') registryName: string, @Param('repository') repository: string, @Req() req: HttpRequest): Promise<DeletedRepositoryDto> {
    const header = (name: string) => String(req.headers[name] ?? '');
    return this.repositories.delete(registryName, repository, { id: req.requestId ?? '', host: header('host'), method: req.method, useragent: header('user-agent') });
  }
}
