import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiAuthenticated, ApiOwnerPrincipal, ApiProblems } from '../common/api-docs';
import { PageQueryDto } from '../common/paging';
import { RepositoryListDto } from './repositories.dto';
import { RepositoriesService } from './repositories.service';

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
}
