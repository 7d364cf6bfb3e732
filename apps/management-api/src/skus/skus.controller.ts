import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiAuthenticated } from '../common/api-docs';
import { SkuListDto } from './skus.dto';
import { SkusService } from './skus.service';

@ApiTags('SKUs')
@ApiAuthenticated()
@Controller('skus')
export class SkusController {
  constructor(private readonly skus: SkusService) {}

  @Get()
  @ApiOperation({ summary: 'List the SKUs with their limits and features' })
  @ApiOkResponse({ type: SkuListDto })
  list(): Promise<SkuListDto> {
    return this.skus.list();
  }
}
