import {
  deliveryJobId,
  scopeMatches,
  scopeSubjectOf,
  webhookActionOf,
  type JobProducer,
  type WebhookDeliverJob,
  type WebhookFanoutJob,
} from '@berth/events';
import type { WebhooksRepository } from './webhooks.repository';

export interface FanoutSettings {
  maxAttempts: number;
  backoffMs: number;
}

/**
 * Turns one event into one delivery job per matching webhook. Delivery job
 * ids are `deliver-<eventId>-<webhookId>`, so running the fan-out twice
 * (a retry, a duplicate outbox relay) delivers nothing twice.
 */
export class WebhookFanoutProcessor {
  constructor(
    private readonly webhooks: WebhooksRepository,
    private readonly producer: JobProducer,
    private readonly settings: FanoutSettings,
  ) {}

  async process({ event }: WebhookFanoutJob): Promise<{ deliveries: number }> {
    const registryId = event.payload.registryId;
    const eventId = event.payload.eventId;
    let webhookIds: string[];
    if (event.type === 'webhook.ping') {
      const webhook = await this.webhooks.findWebhook(registryId, event.payload.webhookId);
      webhookIds = webhook ? [webhook.id] : [];
    } else {
      const subject = scopeSubjectOf(event)!;
      const subscribed = await this.webhooks.findSubscribedWebhooks(registryId, webhookActionOf(event.type));
      webhookIds = subscribed.filter((webhook) => scopeMatches(webhook.scope, subject)).map((webhook) => webhook.id);
    }
    await this.producer.addBulk(
      'webhook.deliver',
      webhookIds.map((webhookId) => ({
        data: { webhookId, registryId, eventId, event } satisfies WebhookDeliverJob,
        options: {
          jobId: deliveryJobId(eventId, webhookId),
          attempts: this.settings.maxAttempts,
          backoff: { type: 'exponential', delay: this.settings.backoffMs, jitter: 0.2 },
        },
      })),
    );
    return { deliveries: webhookIds.length };
  }
}
