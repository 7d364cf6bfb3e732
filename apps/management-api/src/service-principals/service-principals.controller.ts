import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiAuthenticated, ApiOwnerPrincipal, ApiProblems } from '../common/api-docs';
import { PageQueryDto } from '../common/paging';
import {
  AddSecretDto,
  CreateServicePrincipalDto,
  CreatedSecretDto,
  CreatedServicePrincipalDto,
  RoleAssignmentDto,
  RoleAssignmentInputDto,
  RoleAssignmentListDto,
  ServicePrincipalDto,
  ServicePrincipalListDto,
} from './service-principals.dto';
import { ServicePrincipalsService } from './service-principals.service';

@ApiTags('Service principals')
@ApiAuthenticated()
@ApiOwnerPrincipal()
@ApiProblems(404)
@Controller('registries/:registryName/service-principals')
export class ServicePrincipalsController {
  constructor(private readonly principals: ServicePrincipalsService) {}

  @Post()
  @ApiOperation({ summary: 'Create a service principal; its first secret is returned once' })
  @ApiCreatedResponse({ type: CreatedServicePrincipalDto })
  @ApiProblems(409)
  create(
    @Param('registryName') registryName: string,
    @Body() body: CreateServicePrincipalDto,
  ): Promise<CreatedServicePrincipalDto> {
    return this.principals.create(registryName, body);
  }

  @Get()
  @ApiOperation({ summary: 'List service principals (secrets are never shown, only hints and expiry)' })
  @ApiOkResponse({ type: ServicePrincipalListDto })
  list(@Param('registryName') registryName: string, @Query() query: PageQueryDto): Promise<ServicePrincipalListDto> {
    return this.principals.list(
      registryName,
      query,
      `/api/v1/registries/${encodeURIComponent(registryName.toLowerCase())}/service-principals`,
    );
  }

  @Get(':principalId')
  @ApiOperation({ summary: 'Get a service principal' })
  @ApiOkResponse({ type: ServicePrincipalDto })
  get(@Param('registryName') registryName: string, @Param('principalId') principalId: string): Promise<ServicePrincipalDto> {
    return this.principals.get(registryName, principalId);
  }

  @Delete(':principalId')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a service principal with its secrets and role assignments' })
  @ApiNoContentResponse()
  delete(@Param('registryName') registryName: string, @Param('principalId') principalId: string): Promise<void> {
    return this.principals.delete(registryName, principalId);
  }

  @Post(':principalId/secrets')
  @ApiOperation({ summary: 'Add a secret (returned once)' })
  @ApiCreatedResponse({ type: CreatedSecretDto })
  addSecret(
    @Param('registryName') registryName: string,
    @Param('principalId') principalId: string,
    @Body() body: AddSecretDto,
  ): Promise<CreatedSecretDto> {
    return this.principals.addSecret(registryName, principalId, body);
  }

  @Delete(':principalId/secrets/:secretId')
  @HttpCode(204)
  @ApiOperation({ summary: 'Remove a secret' })
  @ApiNoContentResponse()
  deleteSecret(
    @Param('registryName') registryName: string,
    @Param('principalId') principalId: string,
    @Param('secretId') secretId: string,
  ): Promise<void> {
    return this.principals.deleteSecret(registryName, principalId, secretId);
  }

  @Get(':principalId/role-assignments')
  @ApiOperation({ summary: 'List the principal\'s role assignments on this registry' })
  @ApiOkResponse({ type: RoleAssignmentListDto })
  listRoles(
    @Param('registryName') registryName: string,
    @Param('principalId') principalId: string,
  ): Promise<RoleAssignmentListDto> {
    return this.principals.listRoles(registryName, principalId);
  }

  @Post(':principalId/role-assignments')
  @ApiOperation({ summary: 'Assign a role (AcrPull, AcrPush, AcrDelete, Owner), optionally limited to repositories' })
  @ApiCreatedResponse({ type: RoleAssignmentDto })
  @ApiProblems(409)
  addRole(
    @Param('registryName') registryName: string,
    @Param('principalId') principalId: string,
    @Body() body: RoleAssignmentInputDto,
  ): Promise<RoleAssignmentDto> {
    return this.principals.addRole(registryName, principalId, body);
  }

  @Delete(':principalId/role-assignments/:assignmentId')
  @HttpCode(204)
  @ApiOperation({ summary: 'Remove a role assignment' })
  @ApiNoContentResponse()
  deleteRole(
    @Param('registryName') registryName: string,
    @Param('principalId') principalId: string,
    @Param('assignmentId') assignmentId: string,
  ): Promise<void> {
    return this.principals.deleteRole(registryName, principalId, assignmentId);
  }
}
