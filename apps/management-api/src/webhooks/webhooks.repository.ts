import { Inject, Injectable } from '@nestjs/common';
import type { Db, Tx } from '@berth/db';
import { DB } from '../common/tokens';

export interface WebhookRecord {
  id: string;
  name: string;
  serviceUriEnc: string;
  customHeadersEnc: string;
  signingSecretEnc: string | null;
  actions: string[];
  scope: string;
  status: 'enabled' | 'disabled';
  payloadFormat: string;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewWebhook {
  id: string;
  name: string;
  serviceUriEnc: string;
  customHeadersEnc: string;
  signingSecretEnc: string | null;
  actions: string[];
  scope: string;
  status: 'enabled' | 'disabled';
  payloadFormat: string;
}

export type WebhookChanges = Partial<Omit<NewWebhook, 'id' | 'name'>>;

export interface WebhookEventRecord {
  id: string;
  eventId: string;
  action: string;
  attempt: number;
  status: string;
  requestMethod: string;
  requestUri: string;
  requestHeaders: unknown;
  requestBody: string;
  responseStatus: number | null;
  responseReason: string | null;
  responseHeaders: unknown;
  responseBody: string | null;
  error: string | null;
  durationMs: number | null;
  createdAt: Date;
}

const WEBHOOK_FIELDS = {
  id: true,
  name: true,
  serviceUriEnc: true,
  customHeadersEnc: true,
  signingSecretEnc: true,
  actions: true,
  scope: true,
  status: true,
  payloadFormat: true,
  createdAt: true,
  updatedAt: true,
} as const;

/** Every method is scoped by registry id. Webhook names match case-insensitively, as ARM resource names do. */
@Injectable()
export class WebhooksRepository {
  constructor(@Inject(DB) private readonly db: Db) {}

  countWebhooks(tx: Tx, registryId: string): Promise<number> {
    return tx.webhook.count({ where: { registryId } });
  }

  findWebhookByName(registryId: string, name: string, tx: Tx = this.db): Promise<WebhookRecord | null> {
    return tx.webhook.findFirst({
      where: { registryId, name: { equals: name, mode: 'insensitive' } },
      select: WEBHOOK_FIELDS,
    });
  }

  createWebhook(tx: Tx, registryId: string, input: NewWebhook): Promise<WebhookRecord> {
    return tx.webhook.create({ data: { ...input, registryId }, select: WEBHOOK_FIELDS });
  }

  /** Webhooks ordered by name, after `afterName` (exclusive). */
  listWebhooks(registryId: string, afterName: string | undefined, take: number): Promise<WebhookRecord[]> {
    return this.db.webhook.findMany({
      where: { registryId, ...(afterName === undefined ? {} : { name: { gt: afterName } }) },
      orderBy: { name: 'asc' },
      take,
      select: WEBHOOK_FIELDS,
    });
  }

  updateWebhook(registryId: string, webhookId: string, changes: WebhookChanges): Promise<WebhookRecord> {
    return this.db.webhook.update({ where: { id: webhookId, registryId }, data: changes, select: WEBHOOK_FIELDS });
  }

  async deleteWebhook(registryId: string, webhookId: string): Promise<void> {
    await this.db.webhook.deleteMany({ where: { id: webhookId, registryId } });
  }

  /** Newest first; `before` is the (createdAt, id) position of the last row of the previous page. */
  async listWebhookEvents(
    registryId: string,
    webhookId: string,
    before: { createdAt: Date; id: string } | undefined,
    take: number,
  ): Promise<WebhookEventRecord[]> {
    return this.db.webhookEvent.findMany({
      where: {
        webhookId,
        webhook: { registryId },
        ...(before === undefined
          ? {}
          : { OR: [{ createdAt: { lt: before.createdAt } }, { createdAt: before.createdAt, id: { lt: before.id } }] }),
      },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take,
      select: {
        id: true,
        eventId: true,
        action: true,
        attempt: true,
        status: true,
        requestMethod: true,
        requestUri: true,
        requestHeaders: true,
        requestBody: true,
        responseStatus: true,
        responseReason: true,
        responseHeaders: true,
        responseBody: true,
        error: true,
        durationMs: true,
        createdAt: true,
      },
    });
  }
}
