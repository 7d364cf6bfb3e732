import { Controller, Get, Param } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiAuthenticated, ApiOwnerPrincipal, ApiProblems } from '../common/api-docs';
import { UsageListDto } from './usages.dto';
import { UsagesService } from './usages.service';

@ApiTags('Usages')
@ApiAuthenticated()
@ApiOwnerPrincipal()
@Controller('registries/:registryName/usages')
export class UsagesController {
  constructor(private readonly usages: UsagesService) {}

  @Get()
  @ApiOperation({ summary: 'Storage, webhooks and service principals used against the SKU\'s limits' })
  @ApiOkResponse({ type: UsageListDto })
  @ApiProblems(404)
  list(@Param('registryName') registryName: string): Promise<UsageListDto> {
    return this.usages.list(registryName);
  }
}
