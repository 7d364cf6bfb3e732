import { ApiProperty, ApiPropertyOptional, ApiPropertyOptions } from '@nestjs/swagger';
import { ROLES, RoleName } from '@berth/auth';
import {
  ArrayMaxSize,
  IsArray,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateIf,
} from 'class-validator';
import { MAX_REPOSITORY_NAME_LENGTH, REPOSITORY_PATTERN } from '../common/patterns';

export const MAX_SECRET_DAYS = 730;

const REPOSITORIES_DOC: ApiPropertyOptions = {
  type: [String],
  example: ['team/app', 'tools/*'],
  description: 'Repository names the role is limited to (`*` matches any run of characters); omitted or empty = every repository.',
};

export class CreateServicePrincipalDto {
  @ApiProperty({ example: 'ci-pusher', maxLength: 100, description: 'Unique within the registry.' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(100)
  displayName!: string;

  @ApiPropertyOptional({ enum: ROLES, description: 'A first role assignment; without it the principal can do nothing yet.' })
  @IsOptional()
  @IsIn(ROLES)
  role?: RoleName;

  @ApiPropertyOptional(REPOSITORIES_DOC)
  @ValidateIf((o: CreateServicePrincipalDto) => o.repositories !== undefined)
  @IsArray()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  @MaxLength(MAX_REPOSITORY_NAME_LENGTH, { each: true })
  @Matches(REPOSITORY_PATTERN, { each: true, message: 'each value in $property must be a repository name (lower-case, `*` wildcards allowed)' })
  repositories?: string[];

  @ApiPropertyOptional({ minimum: 1, maximum: MAX_SECRET_DAYS, default: 365 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_SECRET_DAYS)
  secretExpiresInDays?: number;
}

export class AddSecretDto {
  @ApiPropertyOptional({ maxLength: 100, example: 'rotated 2026-01' })
  @IsOptional()
  @IsString()
  @MaxLength(100)
  description?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: MAX_SECRET_DAYS, default: 365 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_SECRET_DAYS)
  expiresInDays?: number;
}

export class RoleAssignmentInputDto {
  @ApiProperty({ enum: ROLES })
  @IsIn(ROLES)
  role!: RoleName;

  @ApiPropertyOptional(REPOSITORIES_DOC)
  @ValidateIf((o: RoleAssignmentInputDto) => o.repositories !== undefined)
  @IsArray()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  @MaxLength(MAX_REPOSITORY_NAME_LENGTH, { each: true })
  @Matches(REPOSITORY_PATTERN, { each: true, message: 'each value in $property must be a repository name (lower-case, `*` wildcards allowed)' })
  repositories?: string[];
}

export class RoleAssignmentDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ enum: ROLES }) role!: RoleName;
  @ApiProperty({ type: [String] }) repositories!: string[];
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
}

export class RoleAssignmentListDto {
  @ApiProperty({ type: [RoleAssignmentDto] }) value!: RoleAssignmentDto[];
}

export class SecretInfoDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ example: 'Xk3', description: 'First characters of the secret.' }) hint!: string;
  @ApiProperty() description!: string;
  @ApiProperty({ format: 'date-time' }) expiresAt!: string;
  @ApiProperty() expired!: boolean;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
}

export class CreatedSecretDto extends SecretInfoDto {
  @ApiProperty({ description: 'The secret itself. Shown only in this response.' }) secret!: string;
}

export class ServicePrincipalDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ format: 'uuid', description: 'The user name for docker login.' }) clientId!: string;
  @ApiProperty() displayName!: string;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ type: [SecretInfoDto] }) secrets!: SecretInfoDto[];
  @ApiProperty({ type: [RoleAssignmentDto] }) roleAssignments!: RoleAssignmentDto[];
}

export class CreatedServicePrincipalDto extends ServicePrincipalDto {
  @ApiProperty({ description: 'The first secret (the docker password). Shown only in this response.' }) secret!: string;
  @ApiProperty({ format: 'uuid' }) secretId!: string;
  @ApiProperty({ format: 'date-time' }) secretExpiresAt!: string;
}

export class ServicePrincipalListDto {
  @ApiProperty({ type: [ServicePrincipalDto] }) value!: ServicePrincipalDto[];
  @ApiProperty({ nullable: true, type: String }) nextLink!: string | null;
}
