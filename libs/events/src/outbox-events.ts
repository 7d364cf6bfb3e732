/**
 * Outbox event types and payloads. The control and data planes write these
 * (libs/db writeOutboxEvent, in the transaction of the change); the worker's
 * relay turns them into BullMQ jobs. Payloads are JSON: sizes are numbers.
 */
export const OUTBOX_EVENT_TYPES = [
  'image.push',
  'image.delete',
  'repository.delete',
  'registry.delete',
  'webhook.ping',
] as const;
export type OutboxEventType = (typeof OUTBOX_EVENT_TYPES)[number];

/** What the data plane knows of the HTTP request that caused an event (ACR's `request` object). */
export interface EventRequestInfo {
  id: string;
  host: string;
  method: string;
  useragent: string;
}

/** A manifest was pushed (by tag or by digest). */
export interface ImagePushPayload {
  eventId: string;
  timestamp: string;
  registryId: string;
  registryName: string;
  repository: string;
  tag?: string;
  digest: string;
  mediaType: string;
  /** Manifest size in bytes. */
  size: number;
  request: EventRequestInfo;
}

/** A manifest (and so the tags pointing at it) was deleted; untagging alone emits nothing, as in ACR. */
export interface ImageDeletePayload {
  eventId: string;
  timestamp: string;
  registryId: string;
  registryName: string;
  repository: string;
  digest: string;
  mediaType: string;
  tag?: string;
  request: EventRequestInfo;
}

/** A whole repository was deleted (ACR DELETE /acr/v1/{repo} or the management API). */
export interface RepositoryDeletePayload {
  eventId: string;
  timestamp: string;
  registryId: string;
  registryName: string;
  repository: string;
  manifestsDeleted: string[];
  tagsDeleted: string[];
  request?: EventRequestInfo;
}

/** The registry was marked Deleting; the worker purges it and frees the name. */
export interface RegistryDeletePayload {
  registryId: string;
  registryName: string;
}

/** `POST …/webhooks/{name}/ping`: deliver a ping event to one webhook now. */
export interface WebhookPingPayload {
  eventId: string;
  timestamp: string;
  registryId: string;
  webhookId: string;
}

export interface OutboxPayloads {
  'image.push': ImagePushPayload;
  'image.delete': ImageDeletePayload;
  'repository.delete': RepositoryDeletePayload;
  'registry.delete': RegistryDeletePayload;
  'webhook.ping': WebhookPingPayload;
}
