import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayNotEmpty,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsIn,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  MinLength,
} from 'class-validator';
import {
  IsCustomHeaders,
  IsServiceUri,
  PAYLOAD_FORMATS,
  SCOPE_PATTERN,
  WEBHOOK_ACTIONS,
  WEBHOOK_NAME_PATTERN,
  WEBHOOK_STATUSES,
  WebhookAction,
} from './webhook-rules';

export const WEBHOOK_RESOURCE_TYPE = 'Microsoft.ContainerRegistry/registries/webhooks';

const SERVICE_URI_DOC = { example: 'https://hooks.example.com/berth?token=abc', description: 'Absolute http or https URL. Write-only: read it back with callback-config.' };
const HEADERS_DOC = {
  type: 'object',
  additionalProperties: { type: 'string' },
  example: { Authorization: 'Bearer abc' },
  description: 'Header name → value, sent with every delivery. Write-only: values are read back only with callback-config.',
} as const;
const SCOPE_DOC = { example: 'team/app:*', description: '`repo[:tag]` with `*` wildcards (`foo` means `foo:latest`); empty for every repository and tag.' };
const SIGNING_SECRET_DOC = { minLength: 16, maxLength: 256, description: 'HMAC-SHA256 key for the signature header of deliveries.' };

export class CreateWebhookDto {
  @ApiProperty({ example: 'ciwebhook', pattern: WEBHOOK_NAME_PATTERN.source })
  @IsString()
  @Matches(WEBHOOK_NAME_PATTERN, { message: '$property must be 5-50 letters and digits' })
  name!: string;

  @ApiProperty(SERVICE_URI_DOC)
  @IsServiceUri()
  serviceUri!: string;

  @ApiProperty({ enum: WEBHOOK_ACTIONS, isArray: true, example: ['push', 'delete'] })
  @IsArray()
  @ArrayNotEmpty()
  @ArrayUnique()
  @IsIn(WEBHOOK_ACTIONS, { each: true, message: `each value in $property must be one of ${WEBHOOK_ACTIONS.join(', ')}` })
  actions!: WebhookAction[];

  @ApiPropertyOptional({ ...SCOPE_DOC, default: '' })
  @IsOptional()
  @IsString()
  @MaxLength(400)
  @Matches(SCOPE_PATTERN, { message: '$property must be empty or repo[:tag] (lower-case repository, `*` wildcards)' })
  scope?: string;

  @ApiPropertyOptional(HEADERS_DOC)
  @IsOptional()
  @IsCustomHeaders()
  customHeaders?: Record<string, string>;

  @ApiPropertyOptional({ enum: WEBHOOK_STATUSES, default: 'enabled' })
  @IsOptional()
  @IsIn(WEBHOOK_STATUSES)
  status?: 'enabled' | 'disabled';

  @ApiPropertyOptional({ enum: PAYLOAD_FORMATS, default: 'acr' })
  @IsOptional()
  @IsIn(PAYLOAD_FORMATS)
  payloadFormat?: 'acr' | 'cloudevents';

  @ApiPropertyOptional(SIGNING_SECRET_DOC)
  @IsOptional()
  @IsString()
  @MinLength(16)
  @MaxLength(256)
  signingSecret?: string;

  @ApiPropertyOptional({ description: 'Generate a signing secret and return it once in the response.' })
  @IsOptional()
  @IsBoolean()
  generateSigningSecret?: boolean;
}

export class UpdateWebhookDto {
  @ApiPropertyOptional(SERVICE_URI_DOC)
  @IsOptional()
  @IsServiceUri()
  serviceUri?: string;

  @ApiPropertyOptional({ enum: WEBHOOK_ACTIONS, isArray: true })
  @IsOptional()
  @IsArray()
  @ArrayNotEmpty()
  @ArrayUnique()
  @IsIn(WEBHOOK_ACTIONS, { each: true, message: `each value in $property must be one of ${WEBHOOK_ACTIONS.join(', ')}` })
  actions?: WebhookAction[];

  @ApiPropertyOptional(SCOPE_DOC)
  @IsOptional()
  @IsString()
  @MaxLength(400)
  @Matches(SCOPE_PATTERN, { message: '$property must be empty or repo[:tag] (lower-case repository, `*` wildcards)' })
  scope?: string;

  @ApiPropertyOptional({ ...HEADERS_DOC, description: 'Replaces all custom headers.' })
  @IsOptional()
  @IsCustomHeaders()
  customHeaders?: Record<string, string>;

  @ApiPropertyOptional({ enum: WEBHOOK_STATUSES })
  @IsOptional()
  @IsIn(WEBHOOK_STATUSES)
  status?: 'enabled' | 'disabled';

  @ApiPropertyOptional({ enum: PAYLOAD_FORMATS })
  @IsOptional()
  @IsIn(PAYLOAD_FORMATS)
  payloadFormat?: 'acr' | 'cloudevents';

  @ApiPropertyOptional({ ...SIGNING_SECRET_DOC, nullable: true, type: String, description: 'A new signing secret; null removes it.' })
  @IsOptional()
  @IsString()
  @MinLength(16)
  @MaxLength(256)
  signingSecret?: string | null;

  @ApiPropertyOptional({ description: 'Generate a new signing secret and return it once.' })
  @IsOptional()
  @IsBoolean()
  generateSigningSecret?: boolean;
}

export class WebhookPropertiesDto {
  @ApiProperty({ enum: WEBHOOK_STATUSES }) status!: 'enabled' | 'disabled';
  @ApiProperty({ example: 'team/app:*' }) scope!: string;
  @ApiProperty({ enum: WEBHOOK_ACTIONS, isArray: true }) actions!: WebhookAction[];
  @ApiProperty({ enum: PAYLOAD_FORMATS }) payloadFormat!: string;
  @ApiProperty({ type: [String], description: 'Names of the custom headers (values are write-only).' }) customHeaderNames!: string[];
  @ApiProperty({ description: 'Whether deliveries carry an HMAC signature.' }) signed!: boolean;
  @ApiProperty({ example: 'Succeeded' }) provisioningState!: string;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
}

/** ARM's webhook shape minus the write-only serviceUri and header values. */
export class WebhookDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ example: WEBHOOK_RESOURCE_TYPE }) type!: string;
  @ApiProperty({ type: WebhookPropertiesDto }) properties!: WebhookPropertiesDto;
}

export class WebhookWithSecretDto extends WebhookDto {
  @ApiPropertyOptional({ description: 'Only when generateSigningSecret was true: the generated secret, shown once.' })
  signingSecret?: string;
}

export class WebhookListDto {
  @ApiProperty({ type: [WebhookDto] }) value!: WebhookDto[];
  @ApiProperty({ nullable: true, type: String }) nextLink!: string | null;
}

export class CallbackConfigDto {
  @ApiProperty() serviceUri!: string;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' } }) customHeaders!: Record<string, string>;
}

export class PingResultDto {
  @ApiProperty({ format: 'uuid', description: 'Id of the ping event; its delivery appears under events.' }) id!: string;
}

export class EventRequestMessageDto {
  @ApiProperty() content!: string;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' } }) headers!: Record<string, unknown>;
  @ApiProperty({ example: 'POST' }) method!: string;
  @ApiProperty({ description: 'Credentials and query values are masked.' }) requestUri!: string;
  @ApiProperty({ example: '1.1' }) version!: string;
}

export class EventResponseMessageDto {
  @ApiProperty() content!: string;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' } }) headers!: Record<string, unknown>;
  @ApiProperty() reasonPhrase!: string;
  @ApiProperty({ example: '200', description: 'A string, as in ARM; empty when no response arrived.' }) statusCode!: string;
  @ApiProperty({ example: '1.1' }) version!: string;
}

/** ACR listEvents item, plus Berth's delivery details (one item per attempt). */
export class WebhookEventDto {
  @ApiProperty({ format: 'uuid', description: 'Id of this delivery attempt.' }) id!: string;
  @ApiProperty({ description: 'Id of the event (the payload\'s `id`), shared by its attempts.' }) eventId!: string;
  @ApiProperty({ example: 'push' }) action!: string;
  @ApiProperty() attempt!: number;
  @ApiProperty({ enum: ['pending', 'succeeded', 'failed', 'retrying'] }) status!: string;
  @ApiProperty({ format: 'date-time' }) timestamp!: string;
  @ApiPropertyOptional({ nullable: true, type: Number }) durationMs!: number | null;
  @ApiPropertyOptional({ nullable: true, type: String }) error!: string | null;
  @ApiProperty({ type: EventRequestMessageDto }) eventRequestMessage!: EventRequestMessageDto;
  @ApiProperty({ type: EventResponseMessageDto }) eventResponseMessage!: EventResponseMessageDto;
}

export class WebhookEventListDto {
  @ApiProperty({ type: [WebhookEventDto] }) value!: WebhookEventDto[];
  @ApiProperty({ nullable: true, type: String }) nextLink!: string | null;
}
