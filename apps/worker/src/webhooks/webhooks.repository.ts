import type { Db } from '@berth/db';

/** A webhook as the worker needs it; secrets still sealed. */
export interface StoredWebhook {
  id: string;
  registryId: string;
  status: 'enabled' | 'disabled';
  actions: string[];
  scope: string;
  payloadFormat: string;
  serviceUriEnc: string;
  customHeadersEnc: string;
  signingSecretEnc: string | null;
  loginServer: string;
}

/** One delivery attempt, as recorded in WebhookEvent. */
export interface DeliveryAttemptRecord {
  webhookId: string;
  eventId: string;
  action: string;
  attempt: number;
  status: 'succeeded' | 'failed' | 'retrying';
  requestUri: string;
  requestHeaders: Record<string, string>;
  requestBody: string;
  responseStatus?: number;
  responseReason?: string;
  responseHeaders?: Record<string, string | string[]>;
  responseBody?: string;
  error?: string;
  durationMs: number;
}

export class WebhooksRepository {
  constructor(private readonly db: Db) {}

  /** Enabled webhooks of the registry subscribed to `action` (scope is matched by the caller). */
  async findSubscribedWebhooks(registryId: string, action: string): Promise<Array<{ id: string; scope: string }>> {
    return this.db.webhook.findMany({
      where: { registryId, status: 'enabled', actions: { has: action } },
      select: { id: true, scope: true },
      orderBy: { createdAt: 'asc' },
    });
  }

  async findWebhook(registryId: string, webhookId: string): Promise<StoredWebhook | undefined> {
    const row = await this.db.webhook.findFirst({
      where: { id: webhookId, registryId },
      select: {
        id: true,
        registryId: true,
        status: true,
        actions: true,
        scope: true,
        payloadFormat: true,
        serviceUriEnc: true,
        customHeadersEnc: true,
        signingSecretEnc: true,
        registry: { select: { loginServer: true } },
      },
    });
    if (!row) return undefined;
    const { registry, ...webhook } = row;
    return { ...webhook, loginServer: registry.loginServer };
  }

  async recordAttempt(record: DeliveryAttemptRecord): Promise<void> {
    await this.db.webhookEvent.create({
      data: {
        webhookId: record.webhookId,
        eventId: record.eventId,
        action: record.action,
        attempt: record.attempt,
        status: record.status,
        requestMethod: 'POST',
        requestUri: record.requestUri,
        requestHeaders: record.requestHeaders,
        requestBody: record.requestBody,
        responseStatus: record.responseStatus ?? null,
        responseReason: record.responseReason ?? null,
        responseHeaders: record.responseHeaders ?? undefined,
        responseBody: record.responseBody ?? null,
        error: record.error ?? null,
        durationMs: record.durationMs,
      },
    });
  }
}
