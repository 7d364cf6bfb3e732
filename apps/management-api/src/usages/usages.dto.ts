import { ApiProperty } from '@nestjs/swagger';

export class UsageDto {
  @ApiProperty({ enum: ['Size', 'Webhooks', 'ServicePrincipals'] }) name!: string;
  @ApiProperty({ example: 10737418240 }) limit!: number;
  @ApiProperty({ example: 0 }) currentValue!: number;
  @ApiProperty({ enum: ['Bytes', 'Count'] }) unit!: 'Bytes' | 'Count';
}

/** ACR's listUsages shape. */
export class UsageListDto {
  @ApiProperty({ type: [UsageDto] }) value!: UsageDto[];
}
