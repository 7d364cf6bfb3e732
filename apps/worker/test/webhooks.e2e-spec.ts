import { randomUUID } from 'node:crypto';
import { writeOutboxEvent } from '@berth/db';
import { deliveryJobId, verifyWebhookSignature, type ImageDeletePayload, type WebhookPingPayload } from '@berth/events';
import type { BerthWorker } from '../src/worker';
import { createRegistry, createWebhook, writePushEvent } from './support/fixtures';
import { createHarness, freePort, startReceiver, waitFor, type Harness, type Receiver } from './support/harness';

describe('webhook delivery (outbox → fan-out → HTTP)', () => {
  let h: Harness;
  let receiver: Receiver;
  let worker: BerthWorker;

  beforeAll(async () => {
    h = await createHarness();
    receiver = await startReceiver();
    worker = await h.startWorker({
      // Names the link-local test resolves; everything else resolves normally.
      resolveHost: async (host) =>
        host === 'metadata.test' ? [{ address: '169.254.169.254', family: 4 }] : [{ address: '127.0.0.1', family: 4 }],
    });
  });

  afterAll(async () => {
    await h?.close();
    await receiver?.close();
  });

  beforeEach(() => {
    receiver.requests.length = 0;
    receiver.respond = () => ({ status: 200, body: 'ok' });
  });

  const eventsOf = (webhookId: string) => h.db.webhookEvent.findMany({ where: { webhookId }, orderBy: [{ attempt: 'asc' }, { createdAt: 'asc' }] });
  const jobState = async (eventId: string, webhookId: string) =>
    (await worker.producer.queue('berth-webhooks').getJob(deliveryJobId(eventId, webhookId)))?.getState();

  it('delivers an image.push outbox event with exactly the ACR payload and headers', async () => {
    const registry = await createRegistry(h.db);
    const webhook = await createWebhook(h.db, h.config, registry.id, {
      uri: `${receiver.url}/hooks/push?token=abc`,
      actions: ['push'],
      headers: { Authorization: 'Bearer hook-token', 'X-Team': 'platform' },
      signingSecret: 'sign-me',
    });
    const { id: outboxId, payload } = await writePushEvent(h.db, registry);

    const events = await waitFor(async () => {
      const rows = await eventsOf(webhook.id);
      return rows.length > 0 && rows;
    }, 'the delivery to be recorded');
    expect(receiver.requests).toHaveLength(1);
    const [request] = receiver.requests;
    expect(request!.method).toBe('POST');
    expect(request!.url).toBe('/hooks/push?token=abc');
    expect(JSON.parse(request!.body)).toEqual({
      id: payload.eventId,
      timestamp: payload.timestamp,
      action: 'push',
      target: {
        mediaType: payload.mediaType,
        size: payload.size,
        digest: payload.digest,
        length: payload.size,
        repository: payload.repository,
        tag: payload.tag,
      },
      request: payload.request,
    });
    expect(request!.headers['content-type']).toBe('application/json');
    expect(request!.headers.authorization).toBe('Bearer hook-token');
    expect(request!.headers['x-team']).toBe('platform');
    expect(request!.headers['x-berth-event']).toBe(payload.eventId);
    expect(request!.headers['x-berth-delivery']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(request!.headers['x-berth-attempt']).toBe('1');
    expect(request!.headers['user-agent']).toBe('Berth-Webhook/1.0');
    expect(verifyWebhookSignature('sign-me', request!.body, request!.headers['x-berth-signature'] as string)).toBe(true);
    expect(verifyWebhookSignature('wrong', request!.body, request!.headers['x-berth-signature'] as string)).toBe(false);

    // The attempt is recorded with the request (Authorization masked, URI without secrets) and the response.
    expect(events).toHaveLength(1);
    const [event] = events;
    expect(event).toMatchObject({
      eventId: payload.eventId,
      action: 'push',
      attempt: 1,
      status: 'succeeded',
      requestMethod: 'POST',
      requestBody: request!.body,
      responseStatus: 200,
      responseReason: 'OK',
      responseBody: 'ok',
      error: null,
    });
    expect(event!.requestUri).toBe(`${receiver.url}/hooks/push?token=******`);
    const recordedHeaders = event!.requestHeaders as Record<string, string>;
    expect(recordedHeaders.Authorization).toBe('Bearer ******');
    expect(recordedHeaders['X-Team']).toBe('platform');
    expect(JSON.stringify(event)).not.toContain('hook-token');
    expect((event!.responseHeaders as Record<string, string>)['content-type']).toBe('text/plain');
    expect(event!.durationMs).toBeGreaterThanOrEqual(0);

    const outbox = await h.db.outboxEvent.findUniqueOrThrow({ where: { id: outboxId } });
    expect(outbox.sentAt).not.toBeNull();
    expect(outbox.attempts).toBe(1);
  });

  it('filters by action, scope and status', async () => {
    const registry = await createRegistry(h.db);
    const other = await createRegistry(h.db);
    const hook = (name: string, fixture: Partial<Parameters<typeof createWebhook>[3]>, registryId = registry.id) =>
      createWebhook(h.db, h.config, registryId, { uri: `${receiver.url}/${name}`, name, ...fixture });
    const all = await hook('all', { scope: '' });
    const webAnyTag = await hook('web-any', { scope: 'team/web:*' });
    const webV1 = await hook('web-v1', { scope: 'team/web:v1' });
    const webBare = await hook('web-bare', { scope: 'team/web' }); // = team/web:latest
    const otherRepo = await hook('other-repo', { scope: 'other:*' });
    const deleteOnly = await hook('delete-only', { actions: ['delete'] });
    const disabled = await hook('disabled', { status: 'disabled' });
    await hook('other-registry', {}, other.id);

    await writePushEvent(h.db, registry, { repository: 'team/web', tag: 'v1' });
    await waitFor(async () => receiver.requests.length >= 3 && true, 'three deliveries');
    await new Promise((resolve) => setTimeout(resolve, 500)); // nothing else may arrive
    expect(receiver.requests.map((r) => r.url).sort()).toEqual(['/all', '/web-any', '/web-v1']);

    receiver.requests.length = 0;
    const del: ImageDeletePayload = {
      eventId: randomUUID(),
      timestamp: new Date().toISOString(),
      registryId: registry.id,
      registryName: registry.name,
      repository: 'team/web',
      digest: 'sha256:0f',
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      tag: 'latest',
      request: { id: 'r', host: registry.loginServer, method: 'DELETE', useragent: 'curl' },
    };
    await h.db.$transaction((tx) => writeOutboxEvent(tx, { registryId: registry.id, type: 'image.delete', payload: del }));
    await waitFor(async () => receiver.requests.length >= 4 && true, 'four delete deliveries');
    await new Promise((resolve) => setTimeout(resolve, 500));
    // team/web:latest: the bare scope (= :latest) matches now, team/web:v1 does not.
    expect(receiver.requests.map((r) => r.url).sort()).toEqual(['/all', '/delete-only', '/web-any', '/web-bare']);
    const body = JSON.parse(receiver.requests[0]!.body);
    expect(body).toMatchObject({ id: del.eventId, action: 'delete', target: { digest: 'sha256:0f', repository: 'team/web', tag: 'latest' } });
    expect(body.target).not.toHaveProperty('size');

    for (const silent of [otherRepo, disabled]) expect(await eventsOf(silent.id)).toHaveLength(0);
    expect(await eventsOf(all.id)).toHaveLength(2);
    expect(await eventsOf(webAnyTag.id)).toHaveLength(2);
    expect(await eventsOf(webV1.id)).toHaveLength(1);
    expect(await eventsOf(webBare.id)).toHaveLength(1);
    expect(await eventsOf(deleteOnly.id)).toHaveLength(1);
  });

  it('retries 5xx with backoff: failing twice then 200 records three attempts', async () => {
    const registry = await createRegistry(h.db);
    const webhook = await createWebhook(h.db, h.config, registry.id, { uri: `${receiver.url}/flaky` });
    receiver.respond = (_request, index) => (index < 2 ? { status: 503, body: 'busy' } : { status: 200, body: 'finally' });
    const { payload } = await writePushEvent(h.db, registry);

    const events = await waitFor(async () => {
      const rows = await eventsOf(webhook.id);
      return rows.some((row) => row.status === 'succeeded') && rows;
    }, 'a successful third attempt');
    expect(events.map((e) => [e.attempt, e.status, e.responseStatus])).toEqual([
      [1, 'retrying', 503],
      [2, 'retrying', 503],
      [3, 'succeeded', 200],
    ]);
    expect(events.every((e) => e.eventId === payload.eventId)).toBe(true);
    expect(events[0]!.responseBody).toBe('busy');
    expect(receiver.requests.map((r) => r.headers['x-berth-attempt'])).toEqual(['1', '2', '3']);
    // Same delivery id and body on every attempt, so receivers can drop duplicates.
    expect(new Set(receiver.requests.map((r) => r.headers['x-berth-delivery'])).size).toBe(1);
    expect(new Set(receiver.requests.map((r) => r.body)).size).toBe(1);
    expect(await jobState(payload.eventId, webhook.id)).toBe('completed');
  });

  it('ends as failed, every attempt visible, when the receiver is down for the whole retry window', async () => {
    const registry = await createRegistry(h.db);
    const port = await freePort();
    const webhook = await createWebhook(h.db, h.config, registry.id, { uri: `http://127.0.0.1:${port}/down` });
    const { payload } = await writePushEvent(h.db, registry);

    const events = await waitFor(async () => {
      const rows = await eventsOf(webhook.id);
      return rows.some((row) => row.status === 'failed') && rows;
    }, 'the final failed attempt');
    expect(events.map((e) => [e.attempt, e.status])).toEqual([
      [1, 'retrying'],
      [2, 'retrying'],
      [3, 'failed'],
    ]);
    for (const event of events) {
      expect(event.error).toMatch(/ECONNREFUSED/);
      expect(event.responseStatus).toBeNull();
    }
    await waitFor(async () => (await jobState(payload.eventId, webhook.id)) === 'failed', 'the job to be kept as failed');
  });

  it('does not retry other 4xx answers', async () => {
    const registry = await createRegistry(h.db);
    const webhook = await createWebhook(h.db, h.config, registry.id, { uri: `${receiver.url}/gone` });
    receiver.respond = () => ({ status: 404, body: 'x'.repeat(10_000) });
    const { payload } = await writePushEvent(h.db, registry);

    await waitFor(async () => (await jobState(payload.eventId, webhook.id)) === 'failed', 'the delivery to fail');
    await new Promise((resolve) => setTimeout(resolve, 400));
    const events = await eventsOf(webhook.id);
    expect(events.map((e) => [e.attempt, e.status, e.responseStatus])).toEqual([[1, 'failed', 404]]);
    expect(events[0]!.responseBody).toHaveLength(4096); // bounded
    expect(receiver.requests).toHaveLength(1);
  });

  it('retries 429 like a 5xx', async () => {
    const registry = await createRegistry(h.db);
    const webhook = await createWebhook(h.db, h.config, registry.id, { uri: `${receiver.url}/limited` });
    receiver.respond = (_request, index) => (index === 0 ? { status: 429 } : { status: 204 });
    await writePushEvent(h.db, registry);
    const events = await waitFor(async () => {
      const rows = await eventsOf(webhook.id);
      return rows.some((row) => row.status === 'succeeded') && rows;
    }, 'the retry after 429');
    expect(events.map((e) => [e.attempt, e.status, e.responseStatus])).toEqual([
      [1, 'retrying', 429],
      [2, 'succeeded', 204],
    ]);
  });

  it('sends a ping to one webhook, whatever its actions and scope', async () => {
    const registry = await createRegistry(h.db);
    const target = await createWebhook(h.db, h.config, registry.id, { uri: `${receiver.url}/ping`, actions: ['delete'], scope: 'nothing:here' });
    const bystander = await createWebhook(h.db, h.config, registry.id, { uri: `${receiver.url}/bystander` });
    const ping: WebhookPingPayload = { eventId: randomUUID(), timestamp: new Date().toISOString(), registryId: registry.id, webhookId: target.id };
    await h.db.$transaction((tx) => writeOutboxEvent(tx, { registryId: registry.id, type: 'webhook.ping', payload: ping }));

    const [event] = await waitFor(async () => {
      const rows = await eventsOf(target.id);
      return rows.length > 0 && rows;
    }, 'the ping');
    expect(event).toMatchObject({ eventId: ping.eventId, action: 'ping', status: 'succeeded' });
    expect(receiver.requests.map((r) => r.url)).toEqual(['/ping']);
    expect(JSON.parse(receiver.requests[0]!.body)).toEqual({ id: ping.eventId, timestamp: ping.timestamp, action: 'ping' });
    expect(await eventsOf(bystander.id)).toHaveLength(0);
  });

  it('refuses link-local and metadata targets without sending anything, and does not retry', async () => {
    const registry = await createRegistry(h.db);
    const literal = await createWebhook(h.db, h.config, registry.id, { uri: 'http://169.254.169.254/latest/meta-data/' });
    const named = await createWebhook(h.db, h.config, registry.id, { uri: 'http://metadata.test:8080/hook' });
    const { payload } = await writePushEvent(h.db, registry);

    for (const webhook of [literal, named]) {
      await waitFor(async () => (await jobState(payload.eventId, webhook.id)) === 'failed', 'the refusal');
      const events = await eventsOf(webhook.id);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ attempt: 1, status: 'failed', responseStatus: null });
      expect(events[0]!.error).toMatch(/^refused: target .* 169\.254\.169\.254, a metadata address/);
    }
    expect(receiver.requests).toHaveLength(0);
  });

  it('refuses loopback targets unless the configuration allows them', async () => {
    const strict = await createHarness({ BERTH_WEBHOOK_ALLOW_LOOPBACK: 'false' });
    try {
      const strictWorker = await strict.startWorker();
      const registry = await createRegistry(strict.db);
      const webhook = await createWebhook(strict.db, strict.config, registry.id, { uri: `${receiver.url}/loop` });
      const { payload } = await writePushEvent(strict.db, registry);
      await waitFor(
        async () => (await (await strictWorker.producer.queue('berth-webhooks').getJob(deliveryJobId(payload.eventId, webhook.id)))?.getState()) === 'failed',
        'the refusal',
      );
      const [event] = await strict.db.webhookEvent.findMany({ where: { webhookId: webhook.id } });
      expect(event!.error).toMatch(/loopback address/);
      expect(receiver.requests).toHaveLength(0);
    } finally {
      await strict.close();
    }
  });

  it('records a webhook whose sealed configuration cannot be opened as failed, without retrying', async () => {
    const registry = await createRegistry(h.db);
    const webhook = await createWebhook(h.db, h.config, registry.id, { uri: `${receiver.url}/sealed` });
    // Sealed for another webhook: the associated data does not match, so it must not open.
    const other = await createWebhook(h.db, h.config, registry.id, { uri: `${receiver.url}/other`, status: 'disabled' });
    await h.db.webhook.update({ where: { id: webhook.id }, data: { serviceUriEnc: other.serviceUriEnc } });
    const { payload } = await writePushEvent(h.db, registry);
    await waitFor(async () => (await jobState(payload.eventId, webhook.id)) === 'failed', 'the failure');
    const events = await eventsOf(webhook.id);
    expect(events).toHaveLength(1);
    expect(events[0]!.error).toMatch(/^cannot read the webhook's configuration/);
    expect(receiver.requests).toHaveLength(0);
  });

  it('sends CloudEvents 1.0 structured JSON when the webhook asks for it', async () => {
    const registry = await createRegistry(h.db);
    await createWebhook(h.db, h.config, registry.id, { uri: `${receiver.url}/ce`, payloadFormat: 'cloudevents', headers: { 'Content-Type': 'application/x-custom' } });
    const { payload } = await writePushEvent(h.db, registry, { repository: 'app', tag: 'v9' });
    await waitFor(async () => receiver.requests.length > 0, 'the delivery');
    const [request] = receiver.requests;
    // A custom Content-Type wins, as in ACR.
    expect(request!.headers['content-type']).toBe('application/x-custom');
    expect(JSON.parse(request!.body)).toEqual({
      specversion: '1.0',
      id: payload.eventId,
      source: `https://${registry.loginServer}`,
      type: 'io.berth.registry.image.push',
      time: payload.timestamp,
      datacontenttype: 'application/json',
      subject: 'app:v9',
      data: expect.objectContaining({ id: payload.eventId, action: 'push', target: expect.objectContaining({ repository: 'app', tag: 'v9' }) }),
    });
  });

  it('delivers each event once per webhook even if the outbox row is relayed twice', async () => {
    const registry = await createRegistry(h.db);
    const webhook = await createWebhook(h.db, h.config, registry.id, { uri: `${receiver.url}/once` });
    const { id } = await writePushEvent(h.db, registry);
    await waitFor(async () => receiver.requests.length === 1, 'the first delivery');
    // A crash between the add and the commit makes the relay publish the row again.
    await h.db.outboxEvent.update({ where: { id }, data: { sentAt: null } });
    await waitFor(async () => (await h.db.outboxEvent.findUniqueOrThrow({ where: { id } })).sentAt !== null, 'the second relay');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(receiver.requests).toHaveLength(1);
    expect(await eventsOf(webhook.id)).toHaveLength(1);
  });
});
