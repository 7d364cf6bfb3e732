import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsOptional } from 'class-validator';

export class ChangeableAttributesDto {
  @ApiProperty() deleteEnabled!: boolean;
  @ApiProperty() writeEnabled!: boolean;
  @ApiProperty() readEnabled!: boolean;
  @ApiProperty() listEnabled!: boolean;
}

export class RepositoryDto {
  @ApiProperty({ example: 'team/app/web' }) name!: string;
  @ApiProperty({ format: 'date-time' }) createdTime!: string;
  @ApiProperty({ format: 'date-time' }) lastUpdateTime!: string;
  @ApiProperty({ type: ChangeableAttributesDto }) changeableAttributes!: ChangeableAttributesDto;
}

export class RepositoryListDto {
  @ApiProperty({ type: [RepositoryDto] }) value!: RepositoryDto[];
  @ApiProperty({ nullable: true, type: String }) nextLink!: string | null;
}

/** Lock attributes to change (ACR's changeableAttributes); omitted ones stay as they are. */
export class UpdateRepositoryDto {
  @ApiPropertyOptional({ description: 'false: the repository cannot be deleted' })
  @IsOptional()
  @IsBoolean()
  deleteEnabled?: boolean;

  @ApiPropertyOptional({ description: 'false: nothing can be pushed to it' })
  @IsOptional()
  @IsBoolean()
  writeEnabled?: boolean;

  @ApiPropertyOptional({ description: 'false: nothing can be pulled from it' })
  @IsOptional()
  @IsBoolean()
  readEnabled?: boolean;

  @ApiPropertyOptional({ description: 'false: hidden from catalog listings' })
  @IsOptional()
  @IsBoolean()
  listEnabled?: boolean;
}

export class DeletedRepositoryDto {
  @ApiProperty({ example: 'team/app/web' }) name!: string;
  @ApiProperty({ type: [String], description: 'Digests of the manifests deleted with it' }) manifestsDeleted!: string[];
  @ApiProperty({ type: [String], description: 'Tags deleted with it' }) tagsDeleted!: string[];
}
