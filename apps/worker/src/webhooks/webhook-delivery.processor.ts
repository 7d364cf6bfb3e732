import { randomUUID, createHash } from 'node:crypto';
import { UnrecoverableError } from 'bullmq';
import type { SecretBox } from '@berth/auth';
import type { BerthConfig } from '@berth/config';
import {
  WEBHOOK_HEADERS,
  buildWebhookBody,
  checkWebhookTarget,
  isWebhookPayloadFormat,
  signWebhookBody,
  webhookActionOf,
  webhookSecretAad,
  type HostResolver,
  type JobContext,
  type WebhookDeliverJob,
} from '@berth/events';
import type { Logger } from '../logger';
import type { WorkerMetrics } from '../metrics/worker-metrics';
import { sendWebhook, type WebhookResponse } from './webhook-sender';
import type { DeliveryAttemptRecord, StoredWebhook, WebhooksRepository } from './webhooks.repository';

/** Response bodies kept per attempt. */
export const MAX_RECORDED_RESPONSE_BYTES = 4096;
const USER_AGENT = 'Berth-Webhook/1.0';

export type DeliveryResult = { outcome: 'succeeded'; status: number } | { outcome: 'skipped'; reason: string };

/**
 * Delivers one event to one webhook: one HTTP POST per attempt, every attempt
 * recorded as a WebhookEvent row. Network errors, timeouts, 408, 429 and 5xx
 * are retried (BullMQ's exponential backoff, config.webhooks.maxAttempts in
 * all); other answers and refused targets are final.
 */
export class WebhookDeliveryProcessor {
  constructor(
    private readonly webhooks: WebhooksRepository,
    private readonly secretBox: SecretBox,
    private readonly config: BerthConfig,
    private readonly logger: Logger,
    private readonly metrics: WorkerMetrics,
    private readonly resolveHost?: HostResolver,
  ) {}

  async process(job: WebhookDeliverJob, context: JobContext): Promise<DeliveryResult> {
    const webhook = await this.webhooks.findWebhook(job.registryId, job.webhookId);
    if (!webhook) return { outcome: 'skipped', reason: 'webhook deleted' };
    const isPing = job.event.type === 'webhook.ping';
    if (!isPing && webhook.status !== 'enabled') return { outcome: 'skipped', reason: 'webhook disabled' };

    const action = webhookActionOf(job.event.type);
    const base = { webhookId: webhook.id, eventId: job.eventId, action, attempt: context.attempt };
    const started = Date.now();

    let opened: { serviceUri: string; customHeaders: Record<string, string>; signingSecret: string | undefined };
    try {
      opened = this.openSecrets(webhook);
    } catch (error) {
      await this.record({ ...base, status: 'failed', requestUri: '', requestHeaders: {}, requestBody: '', error: `cannot read the webhook's configuration: ${(error as Error).message}`, durationMs: 0 });
      this.metrics.webhookDeliveries.inc({ outcome: 'failed' });
      throw new UnrecoverableError('webhook configuration cannot be decrypted');
    }

    const format = isWebhookPayloadFormat(webhook.payloadFormat) ? webhook.payloadFormat : 'acr';
    const { body, contentType } = buildWebhookBody(job.event, format, `https://${webhook.loginServer}`);
    const headers = this.buildHeaders(contentType, opened.customHeaders, body, opened.signingSecret, job, context.attempt);
    const requestUri = redactUri(opened.serviceUri);
    const recorded = { ...base, requestUri, requestHeaders: maskHeaders(headers), requestBody: body };

    const target = await checkWebhookTarget(
      opened.serviceUri,
      { allowPrivateTargets: this.config.webhooks.allowPrivateTargets, allowLoopbackTargets: this.config.webhooks.allowLoopbackTargets },
      this.resolveHost,
    );
    if (!target.allowed) {
      await this.record({ ...recorded, status: 'failed', error: `refused: ${target.reason}`, durationMs: Date.now() - started });
      this.metrics.webhookDeliveries.inc({ outcome: 'refused' });
      this.logger.warn({ webhookId: webhook.id, eventId: job.eventId, reason: target.reason }, 'webhook target refused');
      throw new UnrecoverableError(`webhook target refused: ${target.reason}`);
    }

    const response = await sendWebhook({
      url: target.url,
      address: target.address,
      family: target.family,
      headers,
      body,
      timeoutMs: this.config.webhooks.timeoutMs,
      maxResponseBytes: MAX_RECORDED_RESPONSE_BYTES,
    });
    const verdict = judge(response);
    const lastAttempt = context.attempt >= context.maxAttempts;
    const status = verdict === 'success' ? 'succeeded' : verdict === 'retry' && !lastAttempt ? 'retrying' : 'failed';
    await this.record({
      ...recorded,
      status,
      durationMs: response.durationMs,
      ...(response.ok
        ? { responseStatus: response.status, responseReason: response.reason, responseHeaders: response.headers, responseBody: response.body }
        : { error: response.error }),
    });
    this.metrics.webhookDeliveries.inc({ outcome: status });

    if (status === 'succeeded') return { outcome: 'succeeded', status: (response as { status: number }).status };
    const reason = response.ok ? `receiver answered ${response.status} ${response.reason}`.trim() : response.error;
    this.logger.info({ webhookId: webhook.id, eventId: job.eventId, attempt: context.attempt, status }, `webhook delivery ${status}: ${reason}`);
    if (status === 'retrying') throw new Error(reason);
    throw new UnrecoverableError(reason);
  }

  private openSecrets(webhook: StoredWebhook) {
    // Sealed by the management API, bound to the webhook and the column.
    const serviceUri = this.secretBox.open(webhook.serviceUriEnc, webhookSecretAad(webhook.id, 'serviceUri'));
    const headersJson = this.secretBox.open(webhook.customHeadersEnc, webhookSecretAad(webhook.id, 'customHeaders'));
    const parsed: unknown = headersJson === '' ? {} : JSON.parse(headersJson);
    const customHeaders: Record<string, string> = {};
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      for (const [name, value] of Object.entries(parsed)) {
        if (typeof value === 'string') customHeaders[name] = value;
      }
    }
    const signingSecret = webhook.signingSecretEnc
      ? this.secretBox.open(webhook.signingSecretEnc, webhookSecretAad(webhook.id, 'signingSecret'))
      : undefined;
    return { serviceUri, customHeaders, signingSecret };
  }

  private buildHeaders(
    contentType: string,
    custom: Record<string, string>,
    body: string,
    signingSecret: string | undefined,
    job: WebhookDeliverJob,
    attempt: number,
  ): Record<string, string> {
    // Names are case-insensitive: custom headers replace defaults (Content-Type
    // included, as in ACR) but never Berth's own delivery headers.
    const byLowerName = new Map<string, [string, string]>();
    const set = (name: string, value: string) => byLowerName.set(name.toLowerCase(), [name, value]);
    set('Content-Type', contentType);
    set('User-Agent', USER_AGENT);
    for (const [name, value] of Object.entries(custom)) {
      if (!/^x-berth-/i.test(name) && !/^(content-length|host|transfer-encoding|connection)$/i.test(name)) set(name, value);
    }
    set(WEBHOOK_HEADERS.delivery, deliveryId(job.eventId, job.webhookId));
    set(WEBHOOK_HEADERS.event, job.eventId);
    set(WEBHOOK_HEADERS.attempt, String(attempt));
    if (signingSecret) set(WEBHOOK_HEADERS.signature, signWebhookBody(signingSecret, body));
    return Object.fromEntries(byLowerName.values());
  }

  private async record(attempt: DeliveryAttemptRecord): Promise<void> {
    await this.webhooks.recordAttempt(attempt);
  }
}

/** Stable across attempts, distinct per webhook: a UUID-shaped hash of (event, webhook). */
export function deliveryId(eventId: string, webhookId: string): string {
  const hex = createHash('sha256').update(`${eventId}\n${webhookId}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** A fresh event id, for events the worker itself emits. */
export function newEventId(): string {
  return randomUUID();
}

function judge(response: WebhookResponse): 'success' | 'retry' | 'final' {
  if (!response.ok) return 'retry';
  if (response.status >= 200 && response.status < 300) return 'success';
  if (response.status === 408 || response.status === 429 || response.status >= 500) return 'retry';
  return 'final';
}

const SECRET_HEADER = /^(authorization|proxy-authorization|cookie)$|token|secret|password|api-?key/i;

/** Recorded headers: credentials masked (as ACR masks a custom Authorization header). */
export function maskHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!SECRET_HEADER.test(name)) {
      out[name] = value;
      continue;
    }
    const scheme = /^authorization$|^proxy-authorization$/i.test(name) ? /^(\S+)\s+\S/.exec(value)?.[1] : undefined;
    out[name] = scheme ? `${scheme} ******` : '******';
  }
  return out;
}

/** The URI as recorded: no user info, query values masked (they often carry tokens). */
export function redactUri(uri: string): string {
  try {
    const url = new URL(uri);
    url.username = '';
    url.password = '';
    for (const key of [...new Set(url.searchParams.keys())]) url.searchParams.set(key, '******');
    return url.toString();
  } catch {
    return '';
  }
}
