import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { SecretBox, generateSecret } from '@berth/auth';
import { Prisma, writeOutboxEvent } from '@berth/db';
import type { Tx } from '@berth/db';
import type { WebhookPingPayload } from '@berth/events';
import { CommonException } from '../common/common.exception';
import { DEFAULT_PAGE_SIZE, PageQueryDto, decodeSkipToken, toPage } from '../common/paging';
import { SECRET_BOX } from '../common/tokens';
import type { RegistryRecord } from '../registries/registries.repository';
import { RegistryAccess } from '../registries/registry-access.service';
import { type WebhookSecretField, webhookSecretAad } from '@berth/events';
import {
  CallbackConfigDto,
  CreateWebhookDto,
  PingResultDto,
  UpdateWebhookDto,
  WEBHOOK_RESOURCE_TYPE,
  WebhookDto,
  WebhookEventDto,
  WebhookEventListDto,
  WebhookListDto,
  WebhookWithSecretDto,
} from './webhooks.dto';
import { WebhookException, WebhookExceptionCode } from './webhooks.exception';
import { WebhookChanges, WebhookEventRecord, WebhookRecord, WebhooksRepository } from './webhooks.repository';
import type { WebhookAction } from './webhook-rules';

const MASK = '******';

function headerNames(box: SecretBox, webhook: WebhookRecord): string[] {
  return Object.keys(openHeaders(box, webhook));
}

function openHeaders(box: SecretBox, webhook: WebhookRecord): Record<string, string> {
  return JSON.parse(box.open(webhook.customHeadersEnc, webhookSecretAad(webhook.id, 'customHeaders'))) as Record<string, string>;
}

function asStringMap(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** Hides what may be a credential in a recorded request: userinfo and query values. */
export function maskUri(uri: string): string {
  try {
    const url = new URL(uri);
    if (url.username) url.username = MASK;
    if (url.password) url.password = MASK;
    for (const key of [...new Set(url.searchParams.keys())]) url.searchParams.set(key, MASK);
    return url.toString();
  } catch {
    return uri === '' ? '' : MASK;
  }
}

/** Authorization is always masked (as ACR does); so are the webhook's own custom headers, whose values are secrets here. */
export function maskHeaders(headers: unknown, secretNames: readonly string[]): Record<string, unknown> {
  const secret = new Set([...secretNames.map((n) => n.toLowerCase()), 'authorization', 'proxy-authorization']);
  return Object.fromEntries(
    Object.entries(asStringMap(headers)).map(([name, value]) => [name, secret.has(name.toLowerCase()) ? MASK : value]),
  );
}

@Injectable()
export class WebhooksService {
  constructor(
    private readonly access: RegistryAccess,
    private readonly webhooks: WebhooksRepository,
    @Inject(SECRET_BOX) private readonly box: SecretBox,
  ) {}

  async create(registryName: string, input: CreateWebhookDto): Promise<WebhookWithSecretDto> {
    const signingSecret = this.chooseSigningSecret(input.signingSecret, input.generateSigningSecret);
    const id = randomUUID();
    try {
      const created = await this.access.transaction(async (tx) => {
        const registry = await this.access.lockWritable(tx, registryName);
        const count = await this.webhooks.countWebhooks(tx, registry.id);
        if (count >= registry.sku.maxWebhooks) throw this.limitReached(registry, count);
        if (await this.webhooks.findWebhookByName(registry.id, input.name, tx)) throw this.nameTaken(input.name);
        return this.webhooks.createWebhook(tx, registry.id, {
          id,
          name: input.name,
          serviceUriEnc: this.seal(id, 'serviceUri', input.serviceUri),
          customHeadersEnc: this.seal(id, 'customHeaders', JSON.stringify(input.customHeaders ?? {})),
          signingSecretEnc: signingSecret.value === null ? null : this.seal(id, 'signingSecret', signingSecret.value),
          actions: input.actions,
          scope: input.scope ?? '',
          status: input.status ?? 'enabled',
          payloadFormat: input.payloadFormat ?? 'acr',
        });
      });
      return this.withGeneratedSecret(this.toDto(created), signingSecret);
    } catch (error) {
      if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002') throw this.nameTaken(input.name);
      throw error;
    }
  }

  async list(registryName: string, query: PageQueryDto, path: string): Promise<WebhookListDto> {
    const registry = await this.access.get(registryName);
    const top = query.top ?? DEFAULT_PAGE_SIZE;
    const after = decodeSkipToken(query.skipToken, ['name'] as const);
    const rows = await this.webhooks.listWebhooks(registry.id, after?.name, top + 1);
    return toPage(rows, top, path, (row) => this.toDto(row), (row) => ({ name: row.name }));
  }

  async get(registryName: string, webhookName: string): Promise<WebhookDto> {
    const registry = await this.access.get(registryName);
    return this.toDto(await this.requireWebhook(registry, webhookName));
  }

  async update(registryName: string, webhookName: string, input: UpdateWebhookDto): Promise<WebhookWithSecretDto> {
    const registry = await this.access.getWritable(registryName);
    const webhook = await this.requireWebhook(registry, webhookName);
    const changes: WebhookChanges = {
      actions: input.actions,
      scope: input.scope,
      status: input.status,
      payloadFormat: input.payloadFormat,
    };
    if (input.serviceUri !== undefined) changes.serviceUriEnc = this.seal(webhook.id, 'serviceUri', input.serviceUri);
    if (input.customHeaders !== undefined) {
      changes.customHeadersEnc = this.seal(webhook.id, 'customHeaders', JSON.stringify(input.customHeaders));
    }
    const signingSecret =
      input.signingSecret === undefined && !input.generateSigningSecret
        ? undefined
        : this.chooseSigningSecret(input.signingSecret ?? undefined, input.generateSigningSecret, input.signingSecret === null);
    if (signingSecret !== undefined) {
      changes.signingSecretEnc =
        signingSecret.value === null ? null : this.seal(webhook.id, 'signingSecret', signingSecret.value);
    }
    const updated = await this.webhooks.updateWebhook(registry.id, webhook.id, changes);
    return this.withGeneratedSecret(this.toDto(updated), signingSecret);
  }

  async delete(registryName: string, webhookName: string): Promise<void> {
    const registry = await this.access.getWritable(registryName);
    const webhook = await this.requireWebhook(registry, webhookName);
    await this.webhooks.deleteWebhook(registry.id, webhook.id);
  }

  async callbackConfig(registryName: string, webhookName: string): Promise<CallbackConfigDto> {
    const registry = await this.access.get(registryName);
    const webhook = await this.requireWebhook(registry, webhookName);
    return {
      serviceUri: this.box.open(webhook.serviceUriEnc, webhookSecretAad(webhook.id, 'serviceUri')),
      customHeaders: openHeaders(this.box, webhook),
    };
  }

  /** Records a ping job in the outbox; the worker delivers it and records the attempt under events. */
  async ping(registryName: string, webhookName: string): Promise<PingResultDto> {
    const eventId = randomUUID();
    await this.access.transaction(async (tx) => {
      const registry = await this.access.lockWritable(tx, registryName);
      const webhook = await this.requireWebhook(registry, webhookName, tx);
      const payload: WebhookPingPayload = {
        eventId,
        timestamp: new Date().toISOString(),
        registryId: registry.id,
        webhookId: webhook.id,
      };
      await writeOutboxEvent(tx, { registryId: registry.id, type: 'webhook.ping', payload });
    });
    return { id: eventId };
  }

  async listEvents(registryName: string, webhookName: string, query: PageQueryDto, path: string): Promise<WebhookEventListDto> {
    const registry = await this.access.get(registryName);
    const webhook = await this.requireWebhook(registry, webhookName);
    const top = query.top ?? DEFAULT_PAGE_SIZE;
    const token = decodeSkipToken(query.skipToken, ['createdAt', 'id'] as const);
    let before: { createdAt: Date; id: string } | undefined;
    if (token) {
      const createdAt = new Date(token.createdAt);
      if (Number.isNaN(createdAt.getTime())) throw CommonException.field('skipToken', 'is not a token from a nextLink');
      before = { createdAt, id: token.id };
    }
    const rows = await this.webhooks.listWebhookEvents(registry.id, webhook.id, before, top + 1);
    const secretNames = headerNames(this.box, webhook);
    return toPage(
      rows,
      top,
      path,
      (row) => this.toEventDto(row, secretNames),
      (row) => ({ createdAt: row.createdAt.toISOString(), id: row.id }),
    );
  }

  private toEventDto(row: WebhookEventRecord, secretNames: string[]): WebhookEventDto {
    return {
      id: row.id,
      eventId: row.eventId,
      action: row.action,
      attempt: row.attempt,
      status: row.status,
      timestamp: row.createdAt.toISOString(),
      durationMs: row.durationMs,
      error: row.error,
      eventRequestMessage: {
        content: row.requestBody,
        headers: maskHeaders(row.requestHeaders, secretNames),
        method: row.requestMethod,
        requestUri: maskUri(row.requestUri),
        version: '1.1',
      },
      eventResponseMessage: {
        content: row.responseBody ?? '',
        headers: asStringMap(row.responseHeaders),
        reasonPhrase: row.responseReason ?? '',
        statusCode: row.responseStatus === null ? '' : String(row.responseStatus),
        version: '1.1',
      },
    };
  }

  private toDto(webhook: WebhookRecord): WebhookDto {
    return {
      id: webhook.id,
      name: webhook.name,
      type: WEBHOOK_RESOURCE_TYPE,
      properties: {
        status: webhook.status,
        scope: webhook.scope,
        actions: webhook.actions as WebhookAction[],
        payloadFormat: webhook.payloadFormat,
        customHeaderNames: headerNames(this.box, webhook),
        signed: webhook.signingSecretEnc !== null,
        provisioningState: 'Succeeded',
        createdAt: webhook.createdAt.toISOString(),
        updatedAt: webhook.updatedAt.toISOString(),
      },
    };
  }

  /** `generated` marks a secret Berth made, which the response must show once. */
  private chooseSigningSecret(
    given: string | undefined,
    generate: boolean | undefined,
    remove = false,
  ): { value: string | null; generated: boolean } {
    if (generate && (given !== undefined || remove)) {
      throw CommonException.validation([
        { field: 'signingSecret', message: 'signingSecret cannot be combined with generateSigningSecret' },
        { field: 'generateSigningSecret', message: 'generateSigningSecret cannot be combined with signingSecret' },
      ]);
    }
    if (generate) return { value: generateSecret(), generated: true };
    return { value: given ?? null, generated: false };
  }

  private withGeneratedSecret(
    dto: WebhookDto,
    secret: { value: string | null; generated: boolean } | undefined,
  ): WebhookWithSecretDto {
    return secret?.generated && secret.value !== null ? { ...dto, signingSecret: secret.value } : dto;
  }

  private seal(webhookId: string, field: WebhookSecretField, value: string): string {
    return this.box.seal(value, webhookSecretAad(webhookId, field));
  }

  private async requireWebhook(registry: RegistryRecord, webhookName: string, tx?: Tx): Promise<WebhookRecord> {
    const webhook = await this.webhooks.findWebhookByName(registry.id, webhookName, tx);
    if (!webhook) {
      throw new WebhookException(
        WebhookExceptionCode.NotFound,
        `Registry ${registry.name} has no webhook ${webhookName}.`,
      );
    }
    return webhook;
  }

  private limitReached(registry: RegistryRecord, count: number): WebhookException {
    const limit = registry.sku.maxWebhooks;
    return new WebhookException(
      WebhookExceptionCode.LimitReached,
      `SKU ${registry.sku.name} allows ${limit} webhooks per registry; registry ${registry.name} has ${count}. Upgrade the SKU or delete a webhook.`,
      { limits: [{ name: 'Webhooks', limit, currentValue: count, message: `Webhooks: ${count} of ${limit} used.` }] },
    );
  }

  private nameTaken(name: string): WebhookException {
    return new WebhookException(WebhookExceptionCode.NameTaken, `A webhook named ${name} already exists in this registry.`, {
      errors: [{ field: 'name', message: 'name is already in use in this registry' }],
    });
  }
}
