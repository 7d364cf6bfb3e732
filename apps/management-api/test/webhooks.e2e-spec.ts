import { TestApp, errorFields, expectProblem, startTestApp } from './harness';

let t: TestApp;
const base = '/api/v1/registries/hookreg/webhooks';
const valid = {
  name: 'ciwebhook',
  serviceUri: 'https://user:pa55word@hooks.example.com/berth?token=s3cr3t-token',
  actions: ['push', 'delete'],
  scope: 'team/app:*',
  customHeaders: { Authorization: 'Bearer header-secret-value', 'X-Team': 'platform' },
};

beforeAll(async () => {
  t = await startTestApp();
  expect((await t.request('POST', '/api/v1/registries', { body: { name: 'hookreg', sku: 'Standard' } })).status).toBe(201);
  expect((await t.request('POST', '/api/v1/registries', { body: { name: 'basichooks' } })).status).toBe(201);
});
afterAll(async () => {
  await t?.close();
});

describe('create, read, update, delete', () => {
  let created: any;

  it('creates a webhook without echoing its service URI or header values', async () => {
    const res = await t.request('POST', base, { body: valid });
    expect(res.status).toBe(201);
    created = res.body;
    expect(res.body).toEqual({
      id: expect.any(String),
      name: 'ciwebhook',
      type: 'Microsoft.ContainerRegistry/registries/webhooks',
      properties: {
        status: 'enabled',
        scope: 'team/app:*',
        actions: ['push', 'delete'],
        payloadFormat: 'acr',
        customHeaderNames: ['Authorization', 'X-Team'],
        signed: false,
        provisioningState: 'Succeeded',
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      },
    });
    expect(res.text).not.toContain('hooks.example.com');
    expect(res.text).not.toContain('header-secret-value');
  });

  it('stores the service URI, headers and signing secret encrypted', async () => {
    const signed = await t.request('POST', base, {
      body: { name: 'signedhook', serviceUri: 'https://signed.example.org/x', actions: ['push'], signingSecret: 'my-signing-secret-0123' },
    });
    expect(signed.status).toBe(201);
    expect(signed.body.properties.signed).toBe(true);
    const rows = await t.db.$queryRaw<Record<string, unknown>[]>`SELECT * FROM "Webhook"`;
    const dump = JSON.stringify(rows);
    for (const plain of ['hooks.example.com', 's3cr3t-token', 'pa55word', 'header-secret-value', 'platform', 'signed.example.org', 'my-signing-secret-0123']) {
      expect(dump).not.toContain(plain);
    }
    await t.request('DELETE', `${base}/signedhook`);
  });

  it('returns the callback config (POST and GET)', async () => {
    for (const method of ['POST', 'GET']) {
      const res = await t.request(method, `${base}/CIWebhook/callback-config`);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ serviceUri: valid.serviceUri, customHeaders: valid.customHeaders });
    }
  });

  it('lists and gets webhooks (names are case-insensitive)', async () => {
    const list = await t.request('GET', base);
    expect(list.status).toBe(200);
    expect(list.body).toEqual({ value: [expect.objectContaining({ name: 'ciwebhook' })], nextLink: null });
    expect(list.text).not.toContain('hooks.example.com');
    const one = await t.request('GET', `${base}/CIWEBHOOK`);
    expect(one.body).toEqual(created);
    expect(expectProblem(await t.request('GET', `${base}/nosuchhook`), 404).code).toBe('WEBHOOK_NOT_FOUND');
    expectProblem(await t.request('GET', '/api/v1/registries/nosuchregistry/webhooks'), 404);
  });

  it('updates fields, replaces headers and can generate a signing secret once', async () => {
    const res = await t.request('PATCH', `${base}/ciwebhook`, {
      body: {
        status: 'disabled',
        actions: ['quarantine'],
        scope: '',
        serviceUri: 'http://other.example.net:8080/hook',
        customHeaders: { 'X-Only': 'one' },
        generateSigningSecret: true,
        payloadFormat: 'cloudevents',
      },
    });
    expect(res.status).toBe(200);
    expect(res.body.properties).toMatchObject({
      status: 'disabled',
      actions: ['quarantine'],
      scope: '',
      customHeaderNames: ['X-Only'],
      signed: true,
      payloadFormat: 'cloudevents',
    });
    expect(res.body.signingSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const config = await t.request('GET', `${base}/ciwebhook/callback-config`);
    expect(config.body).toEqual({ serviceUri: 'http://other.example.net:8080/hook', customHeaders: { 'X-Only': 'one' } });
    const again = await t.request('GET', `${base}/ciwebhook`);
    expect(again.body.signingSecret).toBeUndefined();

    const unsigned = await t.request('PATCH', `${base}/ciwebhook`, { body: { signingSecret: null } });
    expect(unsigned.body.properties.signed).toBe(false);
    const both = await t.request('PATCH', `${base}/ciwebhook`, { body: { signingSecret: 'x'.repeat(20), generateSigningSecret: true } });
    expect(errorFields(both).sort()).toEqual(['generateSigningSecret', 'signingSecret']);
    expect(errorFields(await t.request('PATCH', `${base}/ciwebhook`, { body: { serviceUri: 'ftp://x.example.com/' } }))).toEqual(['serviceUri']);
    expect(errorFields(await t.request('PATCH', `${base}/ciwebhook`, { body: { actions: [] } }))).toEqual(['actions']);
    expectProblem(await t.request('PATCH', `${base}/nosuchhook`, { body: { status: 'enabled' } }), 404);
  });

  it('deletes a webhook', async () => {
    await t.request('POST', base, { body: { ...valid, name: 'shortlived' } });
    expect((await t.request('DELETE', `${base}/shortlived`)).status).toBe(204);
    expectProblem(await t.request('GET', `${base}/shortlived`), 404);
    expectProblem(await t.request('DELETE', `${base}/shortlived`), 404);
  });
});

describe('validation', () => {
  const create = (overrides: Record<string, unknown>) => t.request('POST', base, { body: { ...valid, name: 'validname1', ...overrides } });

  it.each([
    ['relative', '/hooks/berth'],
    ['ftp', 'ftp://files.example.com/hook'],
    ['not a URL', 'not a url'],
    ['javascript', 'javascript:alert(1)'],
    ['a number', 42],
  ])('refuses a %s serviceUri', async (_label, serviceUri) => {
    const res = await create({ serviceUri });
    expectProblem(res, 400);
    expect(errorFields(res)).toEqual(['serviceUri']);
  });

  it('refuses a missing serviceUri and missing actions', async () => {
    const res = await t.request('POST', base, { body: { name: 'validname1' } });
    expect(errorFields(res).sort()).toEqual(['actions', 'serviceUri']);
  });

  it.each([
    ['an unknown action', ['push', 'explode']],
    ['no actions', []],
    ['a repeated action', ['push', 'push']],
    ['a string', 'push'],
  ])('refuses %s', async (_label, actions) => {
    expect(errorFields(await create({ actions }))).toEqual(['actions']);
  });

  it.each(['Team/App:latest', 'foo::bar', 'foo:', '/foo', 'foo bar', 'foo/', 'foo:bar:baz', 'foo:-tag'])(
    'refuses the scope %p',
    async (scope) => {
      expect(errorFields(await create({ scope }))).toEqual(['scope']);
    },
  );

  it.each(['', 'foo', 'foo:*', 'team/app:v1*', '*', 'team/*:latest', 'a.b/c_d-e:1.0'])('accepts the scope %p', async (scope) => {
    const res = await create({ scope, name: 'scopecheck' });
    expect(res.status).toBe(201);
    expect(res.body.properties.scope).toBe(scope);
    expect((await t.request('DELETE', `${base}/scopecheck`)).status).toBe(204);
  });

  it.each([
    ['a space in a header name', { 'Bad Name': 'x' }],
    ['CR LF in a header value', { 'X-Inject': 'a\r\nX-Evil: 1' }],
    ['a Host header', { Host: 'evil.example.com' }],
    ['a non-string value', { 'X-Number': 5 }],
    ['an array', ['X-A']],
  ])('refuses custom headers with %s', async (_label, customHeaders) => {
    expect(errorFields(await create({ customHeaders }))).toEqual(['customHeaders']);
  });

  it.each([['hook'], ['my-hook1'], ['x'.repeat(51)], ['hoök12']])('refuses the webhook name %p', async (name) => {
    expect(errorFields(await create({ name }))).toEqual(['name']);
  });

  it('refuses bad status, payload format and short signing secrets', async () => {
    const res = await create({ status: 'on', payloadFormat: 'xml', signingSecret: 'short' });
    expect(errorFields(res).sort()).toEqual(['payloadFormat', 'signingSecret', 'status']);
  });

  it('refuses a duplicate name in another letter case', async () => {
    expect((await create({ name: 'duplicatehook' })).status).toBe(201);
    const res = await create({ name: 'DuplicateHook' });
    expect(expectProblem(res, 409).code).toBe('WEBHOOK_NAME_TAKEN');
    await t.request('DELETE', `${base}/duplicatehook`);
  });

  it('returns a generated signing secret once on create', async () => {
    const res = await create({ name: 'gensecret', generateSigningSecret: true });
    expect(res.status).toBe(201);
    expect(res.body.signingSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(res.body.properties.signed).toBe(true);
    expect((await t.request('GET', `${base}/gensecret`)).body.signingSecret).toBeUndefined();
    await t.request('DELETE', `${base}/gensecret`);
  });
});

describe('SKU limit', () => {
  it('refuses the third webhook on Basic with a problem naming the limit', async () => {
    for (const name of ['basichook1', 'basichook2']) {
      const res = await t.request('POST', '/api/v1/registries/basichooks/webhooks', {
        body: { name, serviceUri: 'https://example.com/h', actions: ['push'] },
      });
      expect(res.status).toBe(201);
    }
    const third = await t.request('POST', '/api/v1/registries/basichooks/webhooks', {
      body: { name: 'basichook3', serviceUri: 'https://example.com/h', actions: ['push'] },
    });
    const problem = expectProblem(third, 409);
    expect(problem.code).toBe('WEBHOOK_LIMIT_REACHED');
    expect(problem.detail).toContain('Basic allows 2 webhooks');
    expect(problem.limits).toEqual([{ name: 'Webhooks', limit: 2, currentValue: 2, message: expect.any(String) }]);
    expect(await t.db.webhook.count({ where: { registry: { name: 'basichooks' } } })).toBe(2);
  });

  it('holds under concurrent creates', async () => {
    expect((await t.request('POST', '/api/v1/registries', { body: { name: 'racehooks' } })).status).toBe(201);
    const results = await Promise.all(
      [1, 2, 3, 4, 5].map((i) =>
        t.request('POST', '/api/v1/registries/racehooks/webhooks', {
          body: { name: `racehook${i}`, serviceUri: 'https://example.com/h', actions: ['push'] },
        }),
      ),
    );
    expect(results.map((r) => r.status).sort()).toEqual([201, 201, 409, 409, 409]);
  });
});

describe('ping and events', () => {
  it('records a ping job in the outbox and answers its id', async () => {
    const res = await t.request('POST', `${base}/ciwebhook/ping`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    const webhook = await t.db.webhook.findFirstOrThrow({ where: { name: 'ciwebhook' } });
    const events = await t.db.outboxEvent.findMany({ where: { type: 'webhook.ping' } });
    expect(events).toHaveLength(1);
    expect(events[0]!.payload).toEqual({
      eventId: res.body.id,
      timestamp: expect.any(String),
      registryId: webhook.registryId,
      webhookId: webhook.id,
    });
    expectProblem(await t.request('POST', `${base}/nosuchhook/ping`), 404);
  });

  it('lists stored deliveries newest first in ACR listEvents shape, with secrets masked', async () => {
    const webhook = await t.db.webhook.findFirstOrThrow({ where: { name: 'ciwebhook' } });
    const base0 = Date.parse('2026-01-01T00:00:00Z');
    for (let i = 0; i < 3; i++) {
      await t.db.webhookEvent.create({
        data: {
          webhookId: webhook.id,
          eventId: `event-${i}`,
          action: 'push',
          attempt: 1,
          status: i === 2 ? 'failed' : 'succeeded',
          requestUri: 'https://user:pw@other.example.net/hook?token=abc',
          requestHeaders: { 'Content-Type': 'application/json', Authorization: 'Bearer leaked', 'X-Only': 'one' },
          requestBody: `{"id":"event-${i}"}`,
          responseStatus: i === 2 ? null : 200,
          responseReason: i === 2 ? null : 'OK',
          responseHeaders: i === 2 ? undefined : { 'content-length': '0' },
          responseBody: i === 2 ? null : '',
          error: i === 2 ? 'connect ECONNREFUSED' : null,
          durationMs: 12,
          createdAt: new Date(base0 + i * 1000),
        },
      });
    }
    const first = await t.request('GET', `${base}/ciwebhook/events?top=2`);
    expect(first.status).toBe(200);
    expect(first.body.value.map((e: { eventId: string }) => e.eventId)).toEqual(['event-2', 'event-1']);
    expect(first.body.value[1]).toEqual({
      id: expect.any(String),
      eventId: 'event-1',
      action: 'push',
      attempt: 1,
      status: 'succeeded',
      timestamp: '2026-01-01T00:00:01.000Z',
      durationMs: 12,
      error: null,
      eventRequestMessage: {
        content: '{"id":"event-1"}',
        headers: { 'Content-Type': 'application/json', Authorization: '******', 'X-Only': '******' },
        method: 'POST',
        requestUri: 'https://******:******@other.example.net/hook?token=******',
        version: '1.1',
      },
      eventResponseMessage: { content: '', headers: { 'content-length': '0' }, reasonPhrase: 'OK', statusCode: '200', version: '1.1' },
    });
    expect(first.body.value[0].eventResponseMessage).toMatchObject({ statusCode: '', reasonPhrase: '' });
    expect(first.text).not.toContain('leaked');
    const second = await t.request('GET', first.body.nextLink);
    expect(second.body.value.map((e: { eventId: string }) => e.eventId)).toEqual(['event-0']);
    expect(second.body.nextLink).toBeNull();
    expect(errorFields(await t.request('GET', `${base}/ciwebhook/events?skipToken=bm9wZQ`))).toEqual(['skipToken']);
    expectProblem(await t.request('GET', `${base}/nosuchhook/events`), 404);
  });
});
