import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiAuthenticated, ApiOwnerPrincipal, ApiProblems } from '../common/api-docs';
import { RegenerateCredentialDto, RegistryCredentialsDto } from './credentials.dto';
import { CredentialsService } from './credentials.service';

const ADMIN_DISABLED = 'The 409 means the admin user is disabled (as `az acr credential show` refuses then).';

@ApiTags('Admin credentials')
@ApiAuthenticated()
@ApiOwnerPrincipal()
@Controller('registries/:registryName')
export class CredentialsController {
  constructor(private readonly credentials: CredentialsService) {}

  @Get('credentials')
  @ApiOperation({ summary: 'Show the admin user name and both passwords', description: ADMIN_DISABLED })
  @ApiOkResponse({ type: RegistryCredentialsDto })
  @ApiProblems(404, 409)
  list(@Param('registryName') registryName: string): Promise<RegistryCredentialsDto> {
    return this.credentials.list(registryName);
  }

  @Post('listCredentials')
  @HttpCode(200)
  @ApiOperation({ summary: 'ARM-style alias of GET …/credentials', description: ADMIN_DISABLED })
  @ApiOkResponse({ type: RegistryCredentialsDto })
  @ApiProblems(404, 409)
  listAlias(@Param('registryName') registryName: string): Promise<RegistryCredentialsDto> {
    return this.credentials.list(registryName);
  }

  @Post('credentials/regenerate')
  @HttpCode(200)
  @ApiOperation({ summary: 'Regenerate password or password2; the other one is kept', description: ADMIN_DISABLED })
  @ApiOkResponse({ type: RegistryCredentialsDto })
  @ApiProblems(404, 409)
  regenerate(
    @Param('registryName') registryName: string,
    @Body() body: RegenerateCredentialDto,
  ): Promise<RegistryCredentialsDto> {
    return this.credentials.regenerate(registryName, body.name);
  }
}
