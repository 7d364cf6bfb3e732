import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, Max, MaxLength, Min, ValidateNested } from 'class-validator';
import { IsRegistryName } from './registry-name';

export const REGISTRY_RESOURCE_TYPE = 'Microsoft.ContainerRegistry/registries';

export class RetentionPolicyInputDto {
  @ApiPropertyOptional({ minimum: 0, maximum: 365, default: 7, description: 'Days untagged manifests are kept; 0 deletes them at once.' })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(365)
  days?: number;

  @ApiProperty({ enum: ['enabled', 'disabled'] })
  @IsIn(['enabled', 'disabled'])
  status!: 'enabled' | 'disabled';
}

export class CreateRegistryDto {
  @ApiProperty({ example: 'myregistry', description: '5-50 letters and digits; stored lower-case; unique case-insensitively.', pattern: '^[a-zA-Z0-9]{5,50}$' })
  @IsRegistryName()
  name!: string;

  @ApiPropertyOptional({ example: 'Standard', default: 'Basic', description: 'A SKU name from GET /api/v1/skus.' })
  @IsOptional()
  @IsString()
  @MaxLength(50)
  sku?: string;

  @ApiPropertyOptional({ default: false })
  @IsOptional()
  @IsBoolean()
  adminUserEnabled?: boolean;

  @ApiPropertyOptional({ default: false, description: 'Only where the SKU allows anonymous pull.' })
  @IsOptional()
  @IsBoolean()
  anonymousPullEnabled?: boolean;

  @ApiPropertyOptional({ type: RetentionPolicyInputDto, description: 'Only where the SKU allows a retention policy.' })
  @IsOptional()
  @ValidateNested()
  @Type(() => RetentionPolicyInputDto)
  retentionPolicy?: RetentionPolicyInputDto;
}

export class UpdateRegistryDto {
  @ApiPropertyOptional({ example: 'Premium' })
  @IsOptional()
  @IsString()
  @MaxLength(50)
  sku?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsBoolean()
  adminUserEnabled?: boolean;

  @ApiPropertyOptional()
  @IsOptional()
  @IsBoolean()
  anonymousPullEnabled?: boolean;

  @ApiPropertyOptional({ type: RetentionPolicyInputDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => RetentionPolicyInputDto)
  retentionPolicy?: RetentionPolicyInputDto;
}

export class CheckNameDto {
  @ApiProperty({ example: 'myregistry' })
  @IsString()
  @MaxLength(1000)
  name!: string;
}

export class NameAvailabilityDto {
  @ApiProperty() nameAvailable!: boolean;
  @ApiPropertyOptional({ enum: ['Invalid', 'AlreadyExists'] }) reason?: 'Invalid' | 'AlreadyExists';
  @ApiPropertyOptional({ example: 'The registry myregistry is already in use.' }) message?: string;
}

export class RegistrySkuDto {
  @ApiProperty({ example: 'Basic' }) name!: string;
  @ApiProperty({ example: 'Basic' }) tier!: string;
}

export class RetentionPolicyDto {
  @ApiProperty({ example: 7 }) days!: number;
  @ApiProperty({ enum: ['enabled', 'disabled'] }) status!: 'enabled' | 'disabled';
}

export class RegistryPoliciesDto {
  @ApiProperty({ type: RetentionPolicyDto }) retentionPolicy!: RetentionPolicyDto;
}

export class RegistryPropertiesDto {
  @ApiProperty({ example: 'myregistry.localhost' }) loginServer!: string;
  @ApiProperty({ format: 'date-time' }) creationDate!: string;
  @ApiProperty({ enum: ['Succeeded', 'Deleting'] }) provisioningState!: 'Succeeded' | 'Deleting';
  @ApiProperty() adminUserEnabled!: boolean;
  @ApiProperty() anonymousPullEnabled!: boolean;
  @ApiProperty({ type: RegistryPoliciesDto }) policies!: RegistryPoliciesDto;
  @ApiProperty({ description: 'Bytes of distinct content stored.' }) storageUsedBytes!: number;
  @ApiPropertyOptional({ format: 'date-time', nullable: true, type: String }) deletionRequestedAt!: string | null;
}

/** ARM's registry shape (the subset Berth has), with `id` the registry's UUID. */
export class RegistryDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ example: 'myregistry' }) name!: string;
  @ApiProperty({ example: REGISTRY_RESOURCE_TYPE }) type!: string;
  @ApiProperty({ type: RegistrySkuDto }) sku!: RegistrySkuDto;
  @ApiProperty({ type: RegistryPropertiesDto }) properties!: RegistryPropertiesDto;
}

export class RegistryListDto {
  @ApiProperty({ type: [RegistryDto] }) value!: RegistryDto[];
  @ApiProperty({ nullable: true, type: String, description: 'Relative URL of the next page; null on the last page.' })
  nextLink!: string | null;
}
