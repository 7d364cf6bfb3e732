import { buildAcrPayload, buildCloudEvent, buildWebhookBody, scopeSubjectOf, webhookActionOf } from './webhook-payloads';
import { signWebhookBody, verifyWebhookSignature } from './webhook-signature';
import { deliveryJobId, outboxJobFor, outboxJobId } from './queues';
import type { OutboxEnvelope, WebhookOutboxEventType } from './queues';

const request = { id: 'req-1', host: 'myreg.localhost:5000', method: 'PUT', useragent: 'docker/27' };
const push: OutboxEnvelope<WebhookOutboxEventType> = {
  outboxId: '7',
  type: 'image.push',
  payload: {
    eventId: 'ev-1',
    timestamp: '2026-01-02T03:04:05.000Z',
    registryId: 'r1',
    registryName: 'myreg',
    repository: 'team/web',
    tag: 'v1',
    digest: 'sha256:abc',
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    size: 1234,
    request,
  },
};

describe('webhook payloads', () => {
  it('builds the ACR push shape exactly', () => {
    expect(buildAcrPayload(push)).toEqual({
      id: 'ev-1',
      timestamp: '2026-01-02T03:04:05.000Z',
      action: 'push',
      target: {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        size: 1234,
        digest: 'sha256:abc',
        length: 1234,
        repository: 'team/web',
        tag: 'v1',
      },
      request,
    });
  });

  it('builds delete, repository delete and ping', () => {
    const del: OutboxEnvelope<WebhookOutboxEventType> = {
      outboxId: '8',
      type: 'image.delete',
      payload: { eventId: 'ev-2', timestamp: 't', registryId: 'r1', registryName: 'myreg', repository: 'web', digest: 'sha256:d', mediaType: 'm', request },
    };
    expect(buildAcrPayload(del)).toEqual({ id: 'ev-2', timestamp: 't', action: 'delete', target: { mediaType: 'm', digest: 'sha256:d', repository: 'web' }, request });
    expect(JSON.parse(JSON.stringify(buildAcrPayload(del))).target).not.toHaveProperty('tag');
    const repoDel: OutboxEnvelope<WebhookOutboxEventType> = {
      outboxId: '9',
      type: 'repository.delete',
      payload: { eventId: 'ev-3', timestamp: 't', registryId: 'r1', registryName: 'myreg', repository: 'web', manifestsDeleted: ['sha256:d'], tagsDeleted: ['a', 'b'] },
    };
    expect(buildAcrPayload(repoDel)).toEqual({ id: 'ev-3', timestamp: 't', action: 'delete', target: { repository: 'web' } });
    expect(scopeSubjectOf(repoDel)).toEqual({ repository: 'web', tags: ['a', 'b'] });
    const ping: OutboxEnvelope<WebhookOutboxEventType> = {
      outboxId: '10',
      type: 'webhook.ping',
      payload: { eventId: 'ev-4', timestamp: 't', registryId: 'r1', webhookId: 'w1' },
    };
    expect(buildAcrPayload(ping)).toEqual({ id: 'ev-4', timestamp: 't', action: 'ping' });
    expect(scopeSubjectOf(ping)).toBeUndefined();
    expect(webhookActionOf('repository.delete')).toBe('delete');
  });

  it('wraps the event in CloudEvents 1.0', () => {
    const event = buildCloudEvent(push, 'https://myreg.localhost');
    expect(event).toMatchObject({
      specversion: '1.0',
      id: 'ev-1',
      source: 'https://myreg.localhost',
      type: 'io.berth.registry.image.push',
      time: '2026-01-02T03:04:05.000Z',
      datacontenttype: 'application/json',
      subject: 'team/web:v1',
      data: buildAcrPayload(push),
    });
    const { contentType } = buildWebhookBody(push, 'cloudevents', 's');
    expect(contentType).toMatch(/^application\/cloudevents\+json/);
  });

  it('is deterministic (every attempt sends and signs the same bytes)', () => {
    expect(buildWebhookBody(push, 'acr', 's').body).toBe(buildWebhookBody(push, 'acr', 's').body);
  });

  it('signs and verifies bodies', () => {
    const body = buildWebhookBody(push, 'acr', 's').body;
    const signature = signWebhookBody('s3cret', body);
    expect(signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature('s3cret', body, signature)).toBe(true);
    expect(verifyWebhookSignature('other', body, signature)).toBe(false);
    expect(verifyWebhookSignature('s3cret', `${body} `, signature)).toBe(false);
    expect(verifyWebhookSignature('s3cret', body, undefined)).toBe(false);
  });
});

describe('job ids and routing', () => {
  it('builds deterministic ids BullMQ accepts', () => {
    expect(outboxJobId(42n)).toBe('outbox-42');
    expect(deliveryJobId('ev', 'wh')).toBe('deliver-ev-wh');
    expect(outboxJobId(1n)).not.toMatch(/^\d+$|:/);
  });

  it('routes every outbox event type', () => {
    expect(outboxJobFor('image.push')).toEqual({ queue: 'berth-events', name: 'webhook.fanout' });
    expect(outboxJobFor('webhook.ping').name).toBe('webhook.fanout');
    expect(outboxJobFor('registry.delete')).toEqual({ queue: 'berth-registry', name: 'registry.purge' });
    expect(() => outboxJobFor('nope' as never)).toThrow();
  });
});
