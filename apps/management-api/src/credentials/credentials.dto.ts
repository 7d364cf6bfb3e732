import { ApiProperty } from '@nestjs/swagger';
import { IsIn } from 'class-validator';
import { ADMIN_PASSWORD_NAMES, type AdminPasswordName } from '@berth/auth';

export class RegenerateCredentialDto {
  @ApiProperty({ enum: ADMIN_PASSWORD_NAMES })
  @IsIn(ADMIN_PASSWORD_NAMES)
  name!: AdminPasswordName;
}

export class AdminPasswordDto {
  @ApiProperty({ enum: ADMIN_PASSWORD_NAMES }) name!: AdminPasswordName;
  @ApiProperty() value!: string;
}

/** The shape of ACR's listCredentials / regenerateCredential. */
export class RegistryCredentialsDto {
  @ApiProperty({ example: 'myregistry', description: 'The admin user name is the registry name.' }) username!: string;
  @ApiProperty({ type: [AdminPasswordDto] }) passwords!: AdminPasswordDto[];
}
