import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

class FieldErrorDto {
  @ApiProperty({ example: 'name' }) field!: string;
  @ApiProperty({ example: 'must be 5-50 letters and digits' }) message!: string;
}

class LimitViolationDto {
  @ApiProperty({ example: 'Webhooks' }) name!: string;
  @ApiProperty({ oneOf: [{ type: 'number' }, { type: 'boolean' }] }) limit!: number | boolean;
  @ApiProperty({ oneOf: [{ type: 'number' }, { type: 'boolean' }] }) currentValue!: number | boolean;
  @ApiProperty() message!: string;
}

/** RFC 9457 problem details (media type application/problem+json). */
export class ProblemDetailsDto {
  @ApiProperty({ example: 'urn:berth:problem:registry-not-found' }) type!: string;
  @ApiProperty({ example: 'Registry not found' }) title!: string;
  @ApiProperty({ example: 404 }) status!: number;
  @ApiProperty({ example: 'The registry myregistry does not exist.' }) detail!: string;
  @ApiProperty({ example: '/api/v1/registries/myregistry' }) instance!: string;
  @ApiProperty({ example: 'REGISTRY_NOT_FOUND' }) code!: string;
  @ApiPropertyOptional({ type: [FieldErrorDto], description: 'Validation failures, one per offending field.' })
  errors?: FieldErrorDto[];
  @ApiPropertyOptional({ type: [LimitViolationDto], description: 'SKU limits that would be exceeded.' })
  limits?: LimitViolationDto[];
  @ApiPropertyOptional({ description: 'On 500 only; the same id appears in the server log.' })
  correlationId?: string;
}
