import { TestApp, errorFields, expectProblem, startTestApp } from './harness';

let t: TestApp;
const base = '/api/v1/registries/spreg/service-principals';
const DAY = 24 * 3600 * 1000;

beforeAll(async () => {
  t = await startTestApp();
  expect((await t.request('POST', '/api/v1/registries', { body: { name: 'spreg' } })).status).toBe(201);
  expect((await t.request('POST', '/api/v1/registries', { body: { name: 'otherspreg' } })).status).toBe(201);
});
afterAll(async () => {
  await t?.close();
});

describe('create and read', () => {
  let created: any;

  it('creates a principal with a role and returns its secret once', async () => {
    const res = await t.request('POST', base, {
      body: { displayName: 'ci-pusher', role: 'AcrPush', repositories: ['team/app', 'tools/*'], secretExpiresInDays: 10 },
    });
    expect(res.status).toBe(201);
    created = res.body;
    expect(res.body).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      clientId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      displayName: 'ci-pusher',
      createdAt: expect.any(String),
      secret: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      secretId: expect.any(String),
      secretExpiresAt: expect.any(String),
      secrets: [
        {
          id: res.body.secretId,
          hint: res.body.secret.slice(0, 3),
          description: '',
          expiresAt: res.body.secretExpiresAt,
          expired: false,
          createdAt: expect.any(String),
        },
      ],
      roleAssignments: [{ id: expect.any(String), role: 'AcrPush', repositories: ['team/app', 'tools/*'], createdAt: expect.any(String) }],
    });
    const expiresIn = Date.parse(res.body.secretExpiresAt) - Date.now();
    expect(Math.abs(expiresIn - 10 * DAY)).toBeLessThan(60_000);
  });

  it('stores only a hash of the secret', async () => {
    const rows = await t.db.$queryRaw<Record<string, unknown>[]>`SELECT * FROM "ServicePrincipalSecret"`;
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(created.secret);
    expect(rows[0]!.hint).toBe(created.secret.slice(0, 3));
  });

  it('lists and gets (by id or client id) without secrets', async () => {
    const list = await t.request('GET', base);
    expect(list.status).toBe(200);
    expect(list.body.nextLink).toBeNull();
    expect(list.body.value).toHaveLength(1);
    expect(list.text).not.toContain(created.secret);
    const { secret: _secret, secretId: _id, secretExpiresAt: _exp, ...withoutSecret } = created;
    expect(list.body.value[0]).toEqual(withoutSecret);
    for (const key of [created.id, created.clientId]) {
      const one = await t.request('GET', `${base}/${key}`);
      expect(one.status).toBe(200);
      expect(one.body).toEqual(withoutSecret);
    }
  });

  it('answers 404 for unknown, malformed or foreign principals', async () => {
    expectProblem(await t.request('GET', `${base}/00000000-0000-0000-0000-000000000000`), 404);
    expectProblem(await t.request('GET', `${base}/not-a-uuid`), 404);
    expectProblem(await t.request('GET', `/api/v1/registries/otherspreg/service-principals/${created.id}`), 404);
    expectProblem(await t.request('GET', '/api/v1/registries/nosuchregistry/service-principals'), 404);
  });

  it('refuses a duplicate display name', async () => {
    const res = await t.request('POST', base, { body: { displayName: 'ci-pusher' } });
    expect(expectProblem(res, 409).code).toBe('SERVICE_PRINCIPAL_DISPLAY_NAME_TAKEN');
  });

  it.each([
    ['a missing display name', {}, ['displayName']],
    ['an empty display name', { displayName: '' }, ['displayName']],
    ['an unknown role', { displayName: 'x', role: 'Reader' }, ['role']],
    ['an upper-case repository', { displayName: 'x', role: 'AcrPull', repositories: ['Team/App'] }, ['repositories']],
    ['a repository with a bad separator', { displayName: 'x', role: 'AcrPull', repositories: ['team//app'] }, ['repositories']],
    ['repositories that are not a list', { displayName: 'x', role: 'AcrPull', repositories: 'team/app' }, ['repositories']],
    ['repositories without a role', { displayName: 'x', repositories: ['team/app'] }, ['repositories']],
    ['a zero expiry', { displayName: 'x', secretExpiresInDays: 0 }, ['secretExpiresInDays']],
    ['an expiry over two years', { displayName: 'x', secretExpiresInDays: 731 }, ['secretExpiresInDays']],
    ['a fractional expiry', { displayName: 'x', secretExpiresInDays: 1.5 }, ['secretExpiresInDays']],
  ])('refuses %s', async (_label, body, fields) => {
    const res = await t.request('POST', base, { body });
    expectProblem(res, 400);
    expect(errorFields(res)).toEqual(fields);
  });
});

describe('secrets', () => {
  let principal: any;
  beforeAll(async () => {
    principal = (await t.request('POST', base, { body: { displayName: 'rotator' } })).body;
  });

  it('adds a second secret (shown once) and removes secrets', async () => {
    const added = await t.request('POST', `${base}/${principal.id}/secrets`, { body: { description: 'rotation', expiresInDays: 30 } });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({ id: expect.any(String), secret: expect.any(String), hint: added.body.secret.slice(0, 3), description: 'rotation', expired: false });
    expect(added.body.secret).not.toBe(principal.secret);
    const after = await t.request('GET', `${base}/${principal.id}`);
    expect(after.body.secrets.map((s: { id: string }) => s.id)).toEqual([principal.secretId, added.body.id]);
    expect(after.text).not.toContain(added.body.secret);

    expect((await t.request('DELETE', `${base}/${principal.id}/secrets/${principal.secretId}`)).status).toBe(204);
    expect((await t.request('GET', `${base}/${principal.id}`)).body.secrets.map((s: { id: string }) => s.id)).toEqual([added.body.id]);
    expect(expectProblem(await t.request('DELETE', `${base}/${principal.id}/secrets/${principal.secretId}`), 404).code).toBe(
      'SERVICE_PRINCIPAL_SECRET_NOT_FOUND',
    );
    expectProblem(await t.request('DELETE', `${base}/${principal.id}/secrets/bogus`), 404);
  });

  it('validates new secrets', async () => {
    const res = await t.request('POST', `${base}/${principal.id}/secrets`, { body: { expiresInDays: 1000, description: 'x'.repeat(101) } });
    expect(errorFields(res).sort()).toEqual(['description', 'expiresInDays']);
    expectProblem(await t.request('POST', `${base}/00000000-0000-0000-0000-000000000000/secrets`, { body: {} }), 404);
  });
});

describe('role assignments', () => {
  let principal: any;
  beforeAll(async () => {
    principal = (await t.request('POST', base, { body: { displayName: 'roles-sp', role: 'AcrPull' } })).body;
  });

  it('lists, adds, refuses duplicates and removes role assignments', async () => {
    const path = `${base}/${principal.id}/role-assignments`;
    const initial = await t.request('GET', path);
    expect(initial.body.value).toEqual([expect.objectContaining({ role: 'AcrPull', repositories: [] })]);

    const added = await t.request('POST', path, { body: { role: 'AcrDelete', repositories: ['scratch/*'] } });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({ role: 'AcrDelete', repositories: ['scratch/*'] });
    const rows = await t.db.roleAssignment.findMany({ where: { principalId: principal.id }, orderBy: { createdAt: 'asc' } });
    expect(rows.map((r) => r.role)).toEqual(['AcrPull', 'AcrDelete']);

    expect(expectProblem(await t.request('POST', path, { body: { role: 'AcrPull' } }), 409).code).toBe('ROLE_ALREADY_ASSIGNED');
    expect(errorFields(await t.request('POST', path, { body: { role: 'Contributor' } }))).toEqual(['role']);
    expect(errorFields(await t.request('POST', path, { body: {} }))).toEqual(['role']);

    expect((await t.request('DELETE', `${path}/${added.body.id}`)).status).toBe(204);
    expect((await t.request('GET', path)).body.value.map((r: { role: string }) => r.role)).toEqual(['AcrPull']);
    expect(expectProblem(await t.request('DELETE', `${path}/${added.body.id}`), 404).code).toBe('ROLE_ASSIGNMENT_NOT_FOUND');
  });

  it('treats a lone * as every repository', async () => {
    const res = await t.request('POST', `${base}/${principal.id}/role-assignments`, { body: { role: 'Owner', repositories: ['*'] } });
    expect(res.status).toBe(201);
    expect(res.body.repositories).toEqual([]);
  });
});

describe('delete and limits', () => {
  it('deletes a principal with its secrets and roles', async () => {
    const sp = (await t.request('POST', base, { body: { displayName: 'doomed', role: 'AcrPull' } })).body;
    expect((await t.request('DELETE', `${base}/${sp.id}`)).status).toBe(204);
    expectProblem(await t.request('GET', `${base}/${sp.id}`), 404);
    expect(await t.db.servicePrincipalSecret.count({ where: { principalId: sp.id } })).toBe(0);
    expect(await t.db.roleAssignment.count({ where: { principalId: sp.id } })).toBe(0);
    expectProblem(await t.request('DELETE', `${base}/${sp.id}`), 404);
  });

  it('enforces the SKU\'s maximum number of principals', async () => {
    const current = await t.db.servicePrincipal.count({ where: { registry: { name: 'spreg' } } });
    await t.db.sku.update({ where: { name: 'Basic' }, data: { maxServicePrincipals: current + 1 } });
    try {
      expect((await t.request('POST', base, { body: { displayName: 'last-one' } })).status).toBe(201);
      const res = await t.request('POST', base, { body: { displayName: 'one-too-many' } });
      const problem = expectProblem(res, 409);
      expect(problem.code).toBe('SERVICE_PRINCIPAL_LIMIT_REACHED');
      expect(problem.limits).toEqual([expect.objectContaining({ name: 'ServicePrincipals', limit: current + 1, currentValue: current + 1 })]);
    } finally {
      await t.db.sku.update({ where: { name: 'Basic' }, data: { maxServicePrincipals: 100 } });
    }
  });

  it('pages the list', async () => {
    const first = await t.request('GET', `${base}?top=2`);
    expect(first.body.value).toHaveLength(2);
    expect(first.body.nextLink).toMatch(/^\/api\/v1\/registries\/spreg\/service-principals\?top=2&skipToken=/);
    const names = [...first.body.value];
    let link = first.body.nextLink;
    while (link) {
      const page = await t.request('GET', link);
      names.push(...page.body.value);
      link = page.body.nextLink;
    }
    const displayNames = names.map((p: { displayName: string }) => p.displayName);
    expect(displayNames).toEqual([...displayNames].sort());
    expect(displayNames.length).toBe(await t.db.servicePrincipal.count({ where: { registry: { name: 'spreg' } } }));
  });
});

describe('management calls as a service principal', () => {
  const ownerBase = '/api/v1/registries/ownerreg';
  let owner: { clientId: string; secret: string; id: string };
  let pusher: { clientId: string; secret: string };
  let scopedOwner: { clientId: string; secret: string };
  const basic = (clientId: string, secret: string) => ({ key: null, headers: { authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}` } });
  const as = (principal: { clientId: string; secret: string }) => basic(principal.clientId, principal.secret);

  beforeAll(async () => {
    for (const name of ['ownerreg', 'ownerother']) expect((await t.request('POST', '/api/v1/registries', { body: { name } })).status).toBe(201);
    const make = async (displayName: string, role: string, repositories?: string[]) => {
      const res = await t.request('POST', `${ownerBase}/service-principals`, { body: { displayName, role, repositories } });
      expect(res.status).toBe(201);
      return res.body;
    };
    owner = await make('owner', 'Owner');
    pusher = await make('pusher', 'AcrPush');
    scopedOwner = await make('team-owner', 'Owner', ['team/*']);
  });

  it('lets an Owner of all of the registry call the routes of that registry (names case-insensitive)', async () => {
    const registry = await t.request('GET', ownerBase, as(owner));
    expect(registry.status).toBe(200);
    expect(registry.body.name).toBe('ownerreg');
    expect((await t.request('GET', '/api/v1/registries/OwnerReg/usages', as(owner))).status).toBe(200);
    expect((await t.request('GET', `${ownerBase}/webhooks`, as(owner))).status).toBe(200);
    const created = await t.request('POST', `${ownerBase}/service-principals`, { ...as(owner), body: { displayName: 'made-by-owner', role: 'AcrPull' } });
    expect(created.status).toBe(201);
    const updated = await t.request('PATCH', ownerBase, { ...as(owner), body: { anonymousPullEnabled: false } });
    expect(updated.status).toBe(200);
  });

  it('refuses it everywhere else with 401: other registries and operator-wide routes', async () => {
    const foreign = expectProblem(await t.request('GET', '/api/v1/registries/ownerother', as(owner)), 401);
    expect(foreign.code).toBe('UNAUTHENTICATED');
    expectProblem(await t.request('GET', '/api/v1/registries/nosuchregistry/webhooks', as(owner)), 401);
    for (const [method, path] of [
      ['GET', '/api/v1/registries'],
      ['POST', '/api/v1/registries'],
      ['GET', '/api/v1/api-keys'],
      ['GET', '/api/v1/skus'],
    ] as const) {
      const res = await t.request(method, path, { ...as(owner), body: method === 'POST' ? { name: 'sneaky' } : undefined });
      const problem = expectProblem(res, 401);
      expect(problem.code).toBe('UNAUTHENTICATED');
      expect(problem.detail).toContain('needs an operator API key');
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
    }
    expect(await t.db.registry.count({ where: { name: 'sneaky' } })).toBe(0);
  });

  it('answers 403 to principals without Owner on all of the registry', async () => {
    for (const principal of [pusher, scopedOwner]) {
      const problem = expectProblem(await t.request('GET', `${ownerBase}/service-principals`, as(principal)), 403);
      expect(problem.code).toBe('FORBIDDEN');
      expect(problem.detail).toContain('Owner role on all of registry ownerreg');
    }
  });

  it('answers 401 to wrong, malformed, expired or revoked credentials', async () => {
    for (const options of [
      basic(owner.clientId, `${owner.secret}x`),
      basic('not-a-uuid', owner.secret),
      basic(owner.clientId, ''),
      { key: null, headers: { authorization: 'Basic !!!' } },
    ]) {
      expectProblem(await t.request('GET', ownerBase, options), 401);
    }
    await t.db.servicePrincipalSecret.updateMany({ where: { principalId: owner.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    try {
      expectProblem(await t.request('GET', ownerBase, as(owner)), 401);
    } finally {
      await t.db.servicePrincipalSecret.updateMany({ where: { principalId: owner.id }, data: { expiresAt: new Date(Date.now() + DAY) } });
    }
    expect((await t.request('GET', ownerBase, as(owner))).status).toBe(200);
    expect((await t.request('DELETE', `${ownerBase}/service-principals/${owner.id}`)).status).toBe(204);
    expectProblem(await t.request('GET', ownerBase, as(owner)), 401);
  });
});
