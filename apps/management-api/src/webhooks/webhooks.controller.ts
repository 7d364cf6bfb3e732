import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiAuthenticated, ApiOwnerPrincipal, ApiProblems } from '../common/api-docs';
import { PageQueryDto } from '../common/paging';
import {
  CallbackConfigDto,
  CreateWebhookDto,
  PingResultDto,
  UpdateWebhookDto,
  WebhookDto,
  WebhookEventListDto,
  WebhookListDto,
  WebhookWithSecretDto,
} from './webhooks.dto';
import { WebhooksService } from './webhooks.service';

function basePath(registryName: string): string {
  return `/api/v1/registries/${encodeURIComponent(registryName.toLowerCase())}/webhooks`;
}

@ApiTags('Webhooks')
@ApiAuthenticated()
@ApiOwnerPrincipal()
@ApiProblems(404)
@Controller('registries/:registryName/webhooks')
export class WebhooksController {
  constructor(private readonly webhooks: WebhooksService) {}

  @Post()
  @ApiOperation({ summary: 'Create a webhook', description: 'Refused with 409 beyond the SKU\'s webhook limit.' })
  @ApiCreatedResponse({ type: WebhookWithSecretDto })
  @ApiProblems(409)
  create(@Param('registryName') registryName: string, @Body() body: CreateWebhookDto): Promise<WebhookWithSecretDto> {
    return this.webhooks.create(registryName, body);
  }

  @Get()
  @ApiOperation({ summary: 'List webhooks (without service URIs or header values)' })
  @ApiOkResponse({ type: WebhookListDto })
  list(@Param('registryName') registryName: string, @Query() query: PageQueryDto): Promise<WebhookListDto> {
    return this.webhooks.list(registryName, query, basePath(registryName));
  }

  @Get(':webhookName')
  @ApiOperation({ summary: 'Get a webhook (without its service URI or header values)' })
  @ApiOkResponse({ type: WebhookDto })
  get(@Param('registryName') registryName: string, @Param('webhookName') webhookName: string): Promise<WebhookDto> {
    return this.webhooks.get(registryName, webhookName);
  }

  @Patch(':webhookName')
  @ApiOperation({ summary: 'Update a webhook' })
  @ApiOkResponse({ type: WebhookWithSecretDto })
  @ApiProblems(409)
  update(
    @Param('registryName') registryName: string,
    @Param('webhookName') webhookName: string,
    @Body() body: UpdateWebhookDto,
  ): Promise<WebhookWithSecretDto> {
    return this.webhooks.update(registryName, webhookName, body);
  }

  @Delete(':webhookName')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a webhook and its recorded events' })
  @ApiNoContentResponse()
  delete(@Param('registryName') registryName: string, @Param('webhookName') webhookName: string): Promise<void> {
    return this.webhooks.delete(registryName, webhookName);
  }

  @Post(':webhookName/callback-config')
  @HttpCode(200)
  @ApiOperation({ summary: 'Read the service URI and custom headers (ACR getCallbackConfig)' })
  @ApiOkResponse({ type: CallbackConfigDto })
  callbackConfig(@Param('registryName') registryName: string, @Param('webhookName') webhookName: string): Promise<CallbackConfigDto> {
    return this.webhooks.callbackConfig(registryName, webhookName);
  }

  @Get(':webhookName/callback-config')
  @ApiOperation({ summary: 'Same as POST …/callback-config' })
  @ApiOkResponse({ type: CallbackConfigDto })
  callbackConfigGet(@Param('registryName') registryName: string, @Param('webhookName') webhookName: string): Promise<CallbackConfigDto> {
    return this.webhooks.callbackConfig(registryName, webhookName);
  }

  @Post(':webhookName/ping')
  @HttpCode(200)
  @ApiOperation({ summary: 'Queue a ping event for delivery; answers the event id' })
  @ApiOkResponse({ type: PingResultDto })
  @ApiProblems(409)
  ping(@Param('registryName') registryName: string, @Param('webhookName') webhookName: string): Promise<PingResultDto> {
    return this.webhooks.ping(registryName, webhookName);
  }

  @Get(':webhookName/events')
  @ApiOperation({ summary: 'List recorded deliveries, newest first (ACR listEvents shape)' })
  @ApiOkResponse({ type: WebhookEventListDto })
  events(
    @Param('registryName') registryName: string,
    @Param('webhookName') webhookName: string,
    @Query() query: PageQueryDto,
  ): Promise<WebhookEventListDto> {
    const path = `${basePath(registryName)}/${encodeURIComponent(webhookName)}/events`;
    return this.webhooks.listEvents(registryName, webhookName, query, path);
  }
}
