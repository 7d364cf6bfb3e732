import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiAcceptedResponse, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiAuthenticated, ApiOwnerPrincipal, ApiProblems } from '../common/api-docs';
import { PageQueryDto } from '../common/paging';
import {
  CheckNameDto,
  CreateRegistryDto,
  NameAvailabilityDto,
  RegistryDto,
  RegistryListDto,
  UpdateRegistryDto,
} from './registries.dto';
import { RegistriesService } from './registries.service';

@ApiTags('Registries')
@ApiAuthenticated()
@Controller('registries')
export class RegistriesController {
  constructor(private readonly registries: RegistriesService) {}

  @Post()
  @ApiOperation({ summary: 'Create a registry', description: 'Two admin passwords are generated with it.' })
  @ApiCreatedResponse({ type: RegistryDto })
  @ApiProblems(409)
  create(@Body() body: CreateRegistryDto): Promise<RegistryDto> {
    return this.registries.create(body);
  }

  @Get()
  @ApiOperation({ summary: 'List registries, ordered by name (paged)' })
  @ApiOkResponse({ type: RegistryListDto })
  list(@Query() query: PageQueryDto): Promise<RegistryListDto> {
    return this.registries.list(query, '/api/v1/registries');
  }

  @Post('check-name-availability')
  @HttpCode(200)
  @ApiOperation({ summary: 'Check whether a registry name can be used (like ACR checkNameAvailability)' })
  @ApiOkResponse({ type: NameAvailabilityDto })
  checkNameAvailability(@Body() body: CheckNameDto): Promise<NameAvailabilityDto> {
    return this.registries.checkNameAvailability(body);
  }

  @Get(':registryName')
  @ApiOwnerPrincipal()
  @ApiOperation({ summary: 'Get a registry (names are case-insensitive)' })
  @ApiOkResponse({ type: RegistryDto })
  @ApiProblems(404)
  get(@Param('registryName') name: string): Promise<RegistryDto> {
    return this.registries.get(name);
  }

  @Patch(':registryName')
  @ApiOwnerPrincipal()
  @ApiOperation({
    summary: 'Update SKU, admin user, anonymous pull or retention policy',
    description: 'Refused with 409 when the registry would exceed the limits or features of its (new) SKU; `limits` lists each one.',
  })
  @ApiOkResponse({ type: RegistryDto })
  @ApiProblems(404, 409)
  update(@Param('registryName') name: string, @Body() body: UpdateRegistryDto): Promise<RegistryDto> {
    return this.registries.update(name, body);
  }

  @Delete(':registryName')
  @ApiOwnerPrincipal()
  @HttpCode(202)
  @ApiOperation({
    summary: 'Delete a registry',
    description: 'Marks it Deleting and queues the purge; the name stays unavailable until the purge ends.',
  })
  @ApiAcceptedResponse({ type: RegistryDto })
  @ApiProblems(404)
  delete(@Param('registryName') name: string): Promise<RegistryDto> {
    return this.registries.delete(name);
  }
}
