import { ApiProperty } from '@nestjs/swagger';

export class SkuLimitsDto {
  @ApiProperty({ example: 10737418240 }) includedStorageBytes!: number;
  @ApiProperty({ example: 10 }) includedStorageGiB!: number;
  @ApiProperty({ example: 2 }) webhooks!: number;
  @ApiProperty({ example: 1000 }) readOpsPerMinute!: number;
  @ApiProperty({ example: 100 }) writeOpsPerMinute!: number;
  @ApiProperty({ example: 214748364800 }) maxLayerBytes!: number;
  @ApiProperty({ example: 4194304 }) maxManifestBytes!: number;
  @ApiProperty({ example: 100 }) maxServicePrincipals!: number;
}

export class SkuFeaturesDto {
  @ApiProperty() anonymousPull!: boolean;
  @ApiProperty() retentionPolicy!: boolean;
}

export class SkuDto {
  @ApiProperty({ example: 'Basic', enum: ['Basic', 'Standard', 'Premium'] }) name!: string;
  @ApiProperty({ example: 'Basic', description: 'As in ARM, the tier has the SKU\'s name.' }) tier!: string;
  @ApiProperty({ example: 1, description: 'Ordering of the SKUs: higher ranks have higher limits.' }) rank!: number;
  @ApiProperty({ type: SkuLimitsDto }) limits!: SkuLimitsDto;
  @ApiProperty({ type: SkuFeaturesDto }) features!: SkuFeaturesDto;
}

export class SkuListDto {
  @ApiProperty({ type: [SkuDto] }) value!: SkuDto[];
}
