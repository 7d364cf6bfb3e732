import type { EventRequestInfo } from './outbox-events';
import { assertUnreachable, type OutboxEnvelope, type WebhookOutboxEventType } from './queues';
import type { ScopeSubject } from './webhook-scope';

/** Webhook actions (ACR's names); `ping` is only ever sent on request. */
export const WEBHOOK_ACTIONS = ['push', 'delete', 'quarantine', 'chart_push', 'chart_delete'] as const;
export type WebhookAction = (typeof WEBHOOK_ACTIONS)[number] | 'ping';

export const WEBHOOK_PAYLOAD_FORMATS = ['acr', 'cloudevents'] as const;
export type WebhookPayloadFormat = (typeof WEBHOOK_PAYLOAD_FORMATS)[number];

/** `target` of an ACR webhook event; delete events carry no size. */
export interface AcrWebhookTarget {
  mediaType?: string;
  size?: number;
  digest?: string;
  length?: number;
  repository: string;
  tag?: string;
}

/** The ACR webhook event body (Azure's "webhook reference" shape). */
export interface AcrWebhookPayload {
  id: string;
  timestamp: string;
  action: WebhookAction;
  target?: AcrWebhookTarget;
  request?: EventRequestInfo;
}

/** A CloudEvents 1.0 event in structured JSON mode. */
export interface CloudEventPayload {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  time: string;
  datacontenttype: 'application/json';
  subject?: string;
  data: AcrWebhookPayload;
}

/** Content types of the two formats (CloudEvents' structured mode has its own). */
export const WEBHOOK_CONTENT_TYPES: { readonly [F in WebhookPayloadFormat]: string } = {
  acr: 'application/json',
  cloudevents: 'application/cloudevents+json; charset=utf-8',
};

/** The action an outbox event stands for. */
export function webhookActionOf(type: WebhookOutboxEventType): WebhookAction {
  switch (type) {
    case 'image.push':
      return 'push';
    case 'image.delete':
    case 'repository.delete':
      return 'delete';
    case 'webhook.ping':
      return 'ping';
    default:
      return assertUnreachable(type);
  }
}

/** The event's id and time, shared by every delivery and attempt. */
export function eventIdentity(event: OutboxEnvelope<WebhookOutboxEventType>): { eventId: string; timestamp: string } {
  return { eventId: event.payload.eventId, timestamp: event.payload.timestamp };
}

/** What scope matching looks at; undefined for pings (never scoped). */
export function scopeSubjectOf(event: OutboxEnvelope<WebhookOutboxEventType>): ScopeSubject | undefined {
  switch (event.type) {
    case 'image.push':
    case 'image.delete':
      return { repository: event.payload.repository, tags: event.payload.tag ? [event.payload.tag] : [] };
    case 'repository.delete':
      return { repository: event.payload.repository, tags: event.payload.tagsDeleted };
    case 'webhook.ping':
      return undefined;
    default:
      return assertUnreachable(event);
  }
}

/** Builds the ACR-shaped body of an event. Deterministic: every attempt sends the same bytes. */
export function buildAcrPayload(event: OutboxEnvelope<WebhookOutboxEventType>): AcrWebhookPayload {
  const { eventId: id, timestamp } = eventIdentity(event);
  switch (event.type) {
    case 'image.push': {
      const p = event.payload;
      return {
        id,
        timestamp,
        action: 'push',
        target: { mediaType: p.mediaType, size: p.size, digest: p.digest, length: p.size, repository: p.repository, tag: p.tag },
        request: p.request,
      };
    }
    case 'image.delete': {
      const p = event.payload;
      return {
        id,
        timestamp,
        action: 'delete',
        target: { mediaType: p.mediaType, digest: p.digest, repository: p.repository, tag: p.tag },
        request: p.request,
      };
    }
    case 'repository.delete': {
      const p = event.payload;
      return { id, timestamp, action: 'delete', target: { repository: p.repository }, request: p.request };
    }
    case 'webhook.ping':
      return { id, timestamp, action: 'ping' };
    default:
      return assertUnreachable(event);
  }
}

/**
 * Wraps the ACR body in a CloudEvents 1.0 envelope. `type` is
 * `io.berth.registry.<outbox type>` (e.g. `io.berth.registry.image.push`);
 * `subject` is `repo:tag`, `repo@digest` or `repo`.
 */
export function buildCloudEvent(event: OutboxEnvelope<WebhookOutboxEventType>, source: string): CloudEventPayload {
  const data = buildAcrPayload(event);
  const target = data.target;
  let subject: string | undefined;
  if (target) {
    subject = target.tag ? `${target.repository}:${target.tag}` : target.digest ? `${target.repository}@${target.digest}` : target.repository;
  }
  return {
    specversion: '1.0',
    id: data.id,
    source,
    type: `io.berth.registry.${event.type}`,
    time: data.timestamp,
    datacontenttype: 'application/json',
    subject,
    data,
  };
}

/** The exact request body of a delivery in the webhook's format. */
export function buildWebhookBody(
  event: OutboxEnvelope<WebhookOutboxEventType>,
  format: WebhookPayloadFormat,
  source: string,
): { body: string; contentType: string } {
  const payload = format === 'cloudevents' ? buildCloudEvent(event, source) : buildAcrPayload(event);
  return { body: JSON.stringify(payload), contentType: WEBHOOK_CONTENT_TYPES[format] };
}

export function isWebhookPayloadFormat(value: string): value is WebhookPayloadFormat {
  return (WEBHOOK_PAYLOAD_FORMATS as readonly string[]).includes(value);
}
