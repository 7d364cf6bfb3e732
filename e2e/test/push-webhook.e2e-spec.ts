// One registry's life across the three apps, each driven over HTTP: created
// with webhooks through the management API, pushed to and deleted from through
// the data plane with the docker token flow, its events delivered by the worker
// to a real receiver, and finally deleted and purged by the worker.
import { createHmac, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import * as path from 'node:path';
import { sha256, type DataPlaneClient } from './support/data-plane-client';
import { startReceiver, type ReceivedRequest, type Receiver } from './support/receiver';
import { E2E_DOMAIN, startStack, waitFor, type Stack } from './support/stack';

const REGISTRY = 'pushflow';
const SIGNING_SECRET = 'e2e-signing-secret-0123456789';
const USER_AGENT = 'docker/27.3.1 go/go1.22.7 (berth-e2e)';
const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface WebhookEvent {
  eventId: string;
  action: string;
  attempt: number;
  status: string;
  eventRequestMessage: { content: string; headers: Record<string, string>; method: string; requestUri: string };
  eventResponseMessage: { statusCode: string; content: string };
}

describe('push → webhook → purge across the management API, the data plane and the worker', () => {
  let stack: Stack;
  let receiver: Receiver;
  let registryId: string;
  let loginServer: string;
  let client: DataPlaneClient;
  let manifest: Buffer;
  let manifestDigest: string;
  let pushRequestId: string;
  let testStarted: number;

  beforeAll(async () => {
    testStarted = Date.now();
    receiver = await startReceiver();
    // The flaky receiver fails twice, then accepts.
    receiver.respond = (request, earlier) =>
      request.url.startsWith('/flaky') && earlier < 2 ? { status: 500, body: 'try again' } : { status: 200, body: 'ok' };
    stack = await startStack();
  });

  afterAll(async () => {
    await stack?.close();
    await receiver?.close();
  });

  const webhooksPath = () => `/api/v1/registries/${REGISTRY}/webhooks`;
  const eventsOf = async (webhook: string): Promise<WebhookEvent[]> => {
    const res = await stack.api<{ value: WebhookEvent[] }>('GET', `${webhooksPath()}/${webhook}/events`);
    expect(res.status).toBe(200);
    return res.body.value;
  };
  const bodyOf = (request: ReceivedRequest) => JSON.parse(request.body.toString('utf8'));
  const settle = () => new Promise((resolve) => setTimeout(resolve, 400));

  it('creates a Standard registry with the admin user and four webhooks through the management API', async () => {
    const created = await stack.api('POST', '/api/v1/registries', { name: REGISTRY, sku: 'Standard', adminUserEnabled: true });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: REGISTRY, sku: { name: 'Standard' }, properties: { adminUserEnabled: true } });
    registryId = created.body.id;
    loginServer = created.body.properties.loginServer;
    expect(loginServer).toBe(`${REGISTRY}.${E2E_DOMAIN}`);

    const hooks = [
      {
        name: 'pushhook',
        serviceUri: `${receiver.url}/push?token=abc`,
        actions: ['push'],
        scope: 'team/app:*',
        customHeaders: { Authorization: 'Bearer hook-token', 'X-Team': 'platform' },
        signingSecret: SIGNING_SECRET,
      },
      { name: 'deletehook', serviceUri: `${receiver.url}/delete`, actions: ['delete'], scope: '' },
      { name: 'otherhook', serviceUri: `${receiver.url}/other`, actions: ['push'], scope: 'other:*' },
      { name: 'disabledhook', serviceUri: `${receiver.url}/disabled`, actions: ['push', 'delete'], scope: '', status: 'disabled' },
    ];
    for (const hook of hooks) {
      const res = await stack.api('POST', webhooksPath(), hook);
      expect(res.status).toBe(201);
      expect(res.body.properties).toMatchObject({ actions: hook.actions, scope: hook.scope, status: hook.status ?? 'enabled' });
    }
    expect((await stack.api('GET', `${webhooksPath()}/pushhook`)).body.properties).toMatchObject({
      signed: true,
      customHeaderNames: ['Authorization', 'X-Team'],
    });

    // A bad scope is refused with a problem naming the field.
    const bad = await stack.api('POST', webhooksPath(), { name: 'badhook', serviceUri: `${receiver.url}/bad`, actions: ['push'], scope: 'Team/App' });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('scope');
  });

  it('pushes through the data plane with the token flow; exactly the subscribed webhook gets the ACR push payload, signed', async () => {
    const credentials = await stack.api<{ username: string; passwords: Array<{ name: string; value: string }> }>(
      'GET',
      `/api/v1/registries/${REGISTRY}/credentials`,
    );
    expect(credentials.status).toBe(200);
    expect(credentials.body.username).toBe(REGISTRY);
    const password = credentials.body.passwords.find((entry) => entry.name === 'password')!.value;

    client = stack.dataPlane(loginServer);
    await expect(client.login(REGISTRY, 'not-the-password', ['repository:team/app:pull,push,delete'])).rejects.toThrow(/401/);
    await client.login(REGISTRY, password, ['repository:team/app:pull,push,delete']);

    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
    const layer = randomBytes(2048);
    const configDigest = await client.uploadBlob('team/app', config);
    const layerDigest = await client.uploadBlob('team/app', layer);
    manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MANIFEST_TYPE,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layer.length }],
      }),
    );
    manifestDigest = sha256(manifest);

    const put = await client.request('PUT', '/v2/team/app/manifests/v1', {
      headers: { 'content-type': MANIFEST_TYPE, 'user-agent': USER_AGENT },
      body: manifest,
    });
    expect(put.status).toBe(201);
    expect(put.header('docker-content-digest')).toBe(manifestDigest);
    pushRequestId = put.header('x-request-id')!;
    expect(pushRequestId).toMatch(UUID);

    await waitFor(async () => receiver.on('/push').length > 0, 'the push delivery');
    await settle(); // anything else the fan-out sent would arrive meanwhile
    expect(receiver.on('/push')).toHaveLength(1);
    for (const silent of ['/delete', '/other', '/disabled']) expect(receiver.on(silent)).toHaveLength(0);

    const [delivery] = receiver.on('/push');
    expect(delivery!.method).toBe('POST');
    expect(delivery!.url).toBe('/push?token=abc');
    const body = bodyOf(delivery!);
    expect(body).toEqual({
      id: expect.stringMatching(UUID),
      timestamp: expect.any(String),
      action: 'push',
      target: {
        mediaType: MANIFEST_TYPE,
        size: manifest.length,
        digest: manifestDigest,
        length: manifest.length,
        repository: 'team/app',
        tag: 'v1',
      },
      request: { id: pushRequestId, host: loginServer, method: 'PUT', useragent: USER_AGENT },
    });
    const timestamp = Date.parse(body.timestamp);
    expect(timestamp).toBeGreaterThanOrEqual(testStarted);
    expect(timestamp).toBeLessThanOrEqual(Date.now());

    expect(delivery!.headers['content-type']).toBe('application/json');
    expect(delivery!.headers.authorization).toBe('Bearer hook-token');
    expect(delivery!.headers['x-team']).toBe('platform');
    // Verified independently of Berth's own helper: HMAC-SHA256 of the raw bytes.
    const expected = `sha256=${createHmac('sha256', SIGNING_SECRET).update(delivery!.body).digest('hex')}`;
    expect(delivery!.headers['x-berth-signature']).toBe(expected);
    const forged = `sha256=${createHmac('sha256', 'another-secret-0123456789').update(delivery!.body).digest('hex')}`;
    expect(delivery!.headers['x-berth-signature']).not.toBe(forged);
  });

  it('deletes the manifest by digest; only the delete webhook hears of it', async () => {
    const del = await client.request('DELETE', `/v2/team/app/manifests/${manifestDigest}`, { headers: { 'user-agent': USER_AGENT } });
    expect(del.status).toBe(202);
    expect((await client.request('GET', `/v2/team/app/manifests/${manifestDigest}`)).status).toBe(404);

    await waitFor(async () => receiver.on('/delete').length > 0, 'the delete delivery');
    await settle();
    expect(receiver.on('/delete')).toHaveLength(1);
    expect(receiver.on('/push')).toHaveLength(1); // push-only
    expect(receiver.on('/disabled')).toHaveLength(0);

    const [delivery] = receiver.on('/delete');
    expect(bodyOf(delivery!)).toEqual({
      id: expect.stringMatching(UUID),
      timestamp: expect.any(String),
      action: 'delete',
      target: { mediaType: MANIFEST_TYPE, digest: manifestDigest, repository: 'team/app' },
      request: { id: del.header('x-request-id'), host: loginServer, method: 'DELETE', useragent: USER_AGENT },
    });
    expect(delivery!.headers['x-berth-signature']).toBeUndefined(); // no signing secret on this webhook
  });

  it('records each delivery under the webhook events of the management API', async () => {
    const pushEvents = await waitFor(async () => {
      const events = await eventsOf('pushhook');
      return events.length > 0 && events;
    }, 'the push delivery record');
    expect(pushEvents).toHaveLength(1);
    const [pushed] = pushEvents;
    const delivered = receiver.on('/push')[0]!;
    expect(pushed).toMatchObject({
      eventId: bodyOf(delivered).id,
      action: 'push',
      attempt: 1,
      status: 'succeeded',
      eventResponseMessage: { statusCode: '200', content: 'ok' },
      eventRequestMessage: { method: 'POST', content: delivered.body.toString('utf8') },
    });
    // Secrets in the URI and headers are not shown back.
    expect(pushed!.eventRequestMessage.requestUri).not.toContain('abc');
    expect(JSON.stringify(pushed)).not.toContain('hook-token');

    const deleteEvents = await waitFor(async () => {
      const events = await eventsOf('deletehook');
      return events.length > 0 && events;
    }, 'the delete delivery record');
    expect(deleteEvents.map((e) => [e.action, e.attempt, e.status, e.eventResponseMessage.statusCode])).toEqual([['delete', 1, 'succeeded', '200']]);

    expect(await eventsOf('otherhook')).toEqual([]);
    expect(await eventsOf('disabledhook')).toEqual([]);
  });

  it('retries a receiver that answers 500 twice: three attempts recorded, the last one 200', async () => {
    const hook = await stack.api('POST', webhooksPath(), {
      name: 'flakyhook',
      serviceUri: `${receiver.url}/flaky`,
      actions: ['push'],
      scope: 'team/app:v2',
    });
    expect(hook.status).toBe(201);

    const put = await client.request('PUT', '/v2/team/app/manifests/v2', {
      headers: { 'content-type': MANIFEST_TYPE, 'user-agent': USER_AGENT },
      body: manifest,
    });
    expect(put.status).toBe(201);

    const events = await waitFor(async () => {
      const rows = await eventsOf('flakyhook');
      return rows.some((row) => row.status === 'succeeded') && rows;
    }, 'the successful third attempt');
    const attempts = [...events].sort((a, b) => a.attempt - b.attempt);
    expect(attempts.map((e) => [e.attempt, e.status, e.eventResponseMessage.statusCode])).toEqual([
      [1, 'retrying', '500'],
      [2, 'retrying', '500'],
      [3, 'succeeded', '200'],
    ]);
    expect(attempts[0]!.eventResponseMessage.content).toBe('try again');
    expect(new Set(attempts.map((e) => e.eventId)).size).toBe(1);
    expect(receiver.on('/flaky')).toHaveLength(3);
    expect(bodyOf(receiver.on('/flaky')[0]!)).toMatchObject({ action: 'push', target: { repository: 'team/app', tag: 'v2' } });

    // team/app:* sees the v2 push too, once; other:* still nothing.
    await waitFor(async () => receiver.on('/push').length >= 2, 'the v2 push to the wildcard webhook');
    expect(receiver.on('/push').map((r) => bodyOf(r).target.tag)).toEqual(['v1', 'v2']);
    expect(receiver.on('/other')).toHaveLength(0);
  });

  it('pings a webhook on request', async () => {
    const ping = await stack.api<{ id: string }>('POST', `${webhooksPath()}/pushhook/ping`);
    expect(ping.status).toBe(200);
    expect(ping.body.id).toMatch(UUID);

    const delivery = await waitFor(async () => receiver.on('/push').find((r) => bodyOf(r).action === 'ping'), 'the ping');
    expect(bodyOf(delivery)).toEqual({ id: ping.body.id, timestamp: expect.any(String), action: 'ping' });
    expect(delivery.headers['x-berth-signature']).toBe(`sha256=${createHmac('sha256', SIGNING_SECRET).update(delivery.body).digest('hex')}`);
    const recorded = await waitFor(async () => (await eventsOf('pushhook')).find((e) => e.eventId === ping.body.id), 'the ping record');
    expect(recorded).toMatchObject({ action: 'ping', status: 'succeeded', eventResponseMessage: { statusCode: '200' } });

    expect((await stack.api('POST', `${webhooksPath()}/nosuchhook/ping`)).status).toBe(404);
  });

  it('deletes the registry: 202, the worker purges it, the name is free again and storage holds nothing of it', async () => {
    const registryDir = path.join(stack.storagePath, 'registries', registryId);
    expect((await filesUnder(registryDir)).length).toBeGreaterThan(0); // the layers pushed above

    const deleted = await stack.api('DELETE', `/api/v1/registries/${REGISTRY}`);
    expect(deleted.status).toBe(202);
    expect(deleted.body.properties.provisioningState).toBe('Deleting');

    await waitFor(async () => (await stack.api('GET', `/api/v1/registries/${REGISTRY}`)).status === 404, 'the purge to finish', 20_000);
    const availability = await stack.api('POST', '/api/v1/registries/check-name-availability', { name: REGISTRY });
    expect(availability.status).toBe(200);
    expect(availability.body.nameAvailable).toBe(true);
    expect(await filesUnder(registryDir)).toEqual([]);
    expect((await client.request('GET', '/v2/')).status).toBe(404); // the login server no longer answers

    // Nothing the purge did reached a receiver, and the silent webhooks stayed silent throughout.
    expect(receiver.on('/other')).toHaveLength(0);
    expect(receiver.on('/disabled')).toHaveLength(0);

    const recreated = await stack.api('POST', '/api/v1/registries', { name: REGISTRY, sku: 'Standard' });
    expect(recreated.status).toBe(201);
    expect(recreated.body.id).not.toBe(registryId);
  });
});

/** Every file below `dir` (none when it does not exist). */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  return entries.filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name));
}
