import { ApiProperty } from '@nestjs/swagger';

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
