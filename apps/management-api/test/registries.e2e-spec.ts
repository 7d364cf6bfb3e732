import { ApiResponse, DOMAIN, TestApp, errorFields, expectProblem, startTestApp } from './harness';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

const GIB = 1024 ** 3;

async function createRegistry(body: Record<string, unknown>) {
  return t.request('POST', '/api/v1/registries', { body });
}

async function addWebhooks(registry: string, count: number) {
  for (let i = 0; i < count; i++) {
    const res = await t.request('POST', `/api/v1/registries/${registry}/webhooks`, {
      body: { name: `hook${i}abc`, serviceUri: 'https://hooks.example.com/x', actions: ['push'] },
    });
    expect(res.status).toBe(201);
  }
}

describe('create', () => {
  it('creates a Basic registry by default, stored lower-case, with an ARM-like shape', async () => {
    const res = await createRegistry({ name: 'FirstRegistry' });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      name: 'firstregistry',
      type: 'Microsoft.ContainerRegistry/registries',
      sku: { name: 'Basic', tier: 'Basic' },
      properties: {
        loginServer: `firstregistry.${DOMAIN}`,
        creationDate: expect.any(String),
        provisioningState: 'Succeeded',
        adminUserEnabled: false,
        anonymousPullEnabled: false,
        policies: { retentionPolicy: { days: 7, status: 'disabled' } },
        storageUsedBytes: 0,
        deletionRequestedAt: null,
      },
    });
    const row = await t.db.registry.findUnique({ where: { name: 'firstregistry' } });
    expect(row?.loginServer).toBe(`firstregistry.${DOMAIN}`);
    expect(await t.db.adminCredential.count({ where: { registryId: res.body.id } })).toBe(2);
  });

  it('accepts SKU names case-insensitively and Premium features', async () => {
    const res = await createRegistry({
      name: 'premiumreg',
      sku: 'premium',
      adminUserEnabled: true,
      anonymousPullEnabled: true,
      retentionPolicy: { days: 30, status: 'enabled' },
    });
    expect(res.status).toBe(201);
    expect(res.body.sku).toEqual({ name: 'Premium', tier: 'Premium' });
    expect(res.body.properties).toMatchObject({
      adminUserEnabled: true,
      anonymousPullEnabled: true,
      policies: { retentionPolicy: { days: 30, status: 'enabled' } },
    });
  });

  it.each([
    ['too short', 'abcd'],
    ['too long', 'a'.repeat(51)],
    ['a dash', 'my-registry'],
    ['unicode letters', 'regístry1'],
    ['empty', ''],
    ['a dot', 'my.registry'],
  ])('refuses a name with %s (400 naming the field)', async (_label, name) => {
    const res = await createRegistry({ name });
    expectProblem(res, 400);
    expect(errorFields(res)).toEqual(['name']);
  });

  it('refuses a non-string name and a missing name', async () => {
    expect(errorFields(await createRegistry({ name: 12345 }))).toContain('name');
    expect(errorFields(await createRegistry({}))).toContain('name');
  });

  it.each(['admin', 'Registry', 'LOCALHOST', 'berth', 'oauth2', 'login'])('refuses the reserved name %s', async (name) => {
    const res = await createRegistry({ name });
    const problem = expectProblem(res, 400);
    expect(problem.errors[0]).toMatchObject({ field: 'name', message: expect.stringContaining('reserved') });
  });

  it('refuses a duplicate in another letter case with 409', async () => {
    expect((await createRegistry({ name: 'dupregistry' })).status).toBe(201);
    const res = await createRegistry({ name: 'DupRegistry' });
    const problem = expectProblem(res, 409);
    expect(problem.code).toBe('REGISTRY_NAME_TAKEN');
    expect(await t.db.registry.count({ where: { name: 'dupregistry' } })).toBe(1);
  });

  it('refuses an unknown SKU with 400 naming sku', async () => {
    const res = await createRegistry({ name: 'goldregistry', sku: 'Gold' });
    const problem = expectProblem(res, 400);
    expect(problem.errors).toEqual([{ field: 'sku', message: expect.stringContaining('Basic, Standard, Premium') }]);
  });

  it('refuses features the SKU does not allow (409 listing them)', async () => {
    const anon = await createRegistry({ name: 'anonbasic', anonymousPullEnabled: true });
    expect(expectProblem(anon, 409).limits.map((l: { name: string }) => l.name)).toEqual(['AnonymousPull']);
    const retention = await createRegistry({ name: 'retstandard', sku: 'Standard', retentionPolicy: { status: 'enabled' } });
    expect(expectProblem(retention, 409).limits.map((l: { name: string }) => l.name)).toEqual(['RetentionPolicy']);
    expect(await t.db.registry.count({ where: { name: { in: ['anonbasic', 'retstandard'] } } })).toBe(0);
  });

  it('validates the retention policy and unknown properties', async () => {
    const res = await createRegistry({ name: 'badretention', sku: 'Premium', retentionPolicy: { days: 400, status: 'on' }, colour: 'red' });
    expectProblem(res, 400);
    expect(errorFields(res).sort()).toEqual(['colour', 'retentionPolicy.days', 'retentionPolicy.status']);
  });
});

describe('list and get', () => {
  it('pages with top and a nextLink until null', async () => {
    for (const name of ['pagea1', 'pagea2', 'pagea3']) expect((await createRegistry({ name })).status).toBe(201);
    const names: string[] = [];
    let link: string | null = '/api/v1/registries?top=2';
    let pages = 0;
    while (link) {
      const res: ApiResponse = await t.request('GET', link);
      expect(res.status).toBe(200);
      expect(res.body.value.length).toBeLessThanOrEqual(2);
      names.push(...res.body.value.map((r: { name: string }) => r.name));
      link = res.body.nextLink;
      if (link) expect(link).toMatch(/^\/api\/v1\/registries\?top=2&skipToken=/);
      pages++;
    }
    expect(pages).toBeGreaterThan(1);
    expect(names).toEqual([...names].sort());
    expect(names).toEqual(expect.arrayContaining(['pagea1', 'pagea2', 'pagea3']));
    expect(new Set(names).size).toBe(names.length);
  });

  it('refuses bad paging parameters', async () => {
    expect(errorFields(await t.request('GET', '/api/v1/registries?top=0'))).toEqual(['top']);
    expect(errorFields(await t.request('GET', '/api/v1/registries?top=abc'))).toContain('top');
    expect(errorFields(await t.request('GET', '/api/v1/registries?top=1000'))).toEqual(['top']);
    expect(errorFields(await t.request('GET', '/api/v1/registries?skipToken=garbage'))).toEqual(['skipToken']);
  });

  it('gets a registry by name in any letter case, 404 problem otherwise', async () => {
    expect((await createRegistry({ name: 'getmeplease' })).status).toBe(201);
    const res = await t.request('GET', '/api/v1/registries/GetMePlease');
    expect(res.status).toBe(200);
    expect(res.body.name).toBe('getmeplease');
    const missing = expectProblem(await t.request('GET', '/api/v1/registries/nosuchregistry'), 404);
    expect(missing.code).toBe('REGISTRY_NOT_FOUND');
    expect(missing.instance).toBe('/api/v1/registries/nosuchregistry');
  });
});

describe('check-name-availability', () => {
  const check = (name: unknown) => t.request('POST', '/api/v1/registries/check-name-availability', { body: { name } });

  it('answers like ACR for free, taken, invalid and reserved names', async () => {
    expect((await createRegistry({ name: 'takenname' })).status).toBe(201);
    expect((await check('freename123')).body).toEqual({ nameAvailable: true });
    expect((await check('TakenName')).body).toEqual({
      nameAvailable: false,
      reason: 'AlreadyExists',
      message: 'The registry TakenName is already in use.',
    });
    for (const name of ['abc', 'has-dash', 'ünïcode12', 'admin']) {
      const res = await check(name);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ nameAvailable: false, reason: 'Invalid', message: expect.any(String) });
    }
  });

  it('needs a string name', async () => {
    expect(errorFields(await check(42))).toEqual(['name']);
  });
});

describe('update', () => {
  it('changes the admin user and upgrades the SKU', async () => {
    expect((await createRegistry({ name: 'updateme' })).status).toBe(201);
    const res = await t.request('PATCH', '/api/v1/registries/updateme', {
      body: { adminUserEnabled: true, sku: 'Premium', retentionPolicy: { days: 0, status: 'enabled' } },
    });
    expect(res.status).toBe(200);
    expect(res.body.sku.name).toBe('Premium');
    expect(res.body.properties.adminUserEnabled).toBe(true);
    expect(res.body.properties.policies.retentionPolicy).toEqual({ days: 0, status: 'enabled' });
    const row = await t.db.registry.findUnique({ where: { name: 'updateme' } });
    expect(row).toMatchObject({ skuName: 'Premium', retentionDays: 0, adminUserEnabled: true });
  });

  it('refuses anonymous pull on Basic and bad field types', async () => {
    expect((await createRegistry({ name: 'basicanon' })).status).toBe(201);
    const res = await t.request('PATCH', '/api/v1/registries/basicanon', { body: { anonymousPullEnabled: true } });
    expect(expectProblem(res, 409).limits).toEqual([expect.objectContaining({ name: 'AnonymousPull' })]);
    const bad = await t.request('PATCH', '/api/v1/registries/basicanon', { body: { adminUserEnabled: 'yes', sku: 'Platinum' } });
    expect(errorFields(bad)).toEqual(['adminUserEnabled']);
    const unknownSku = await t.request('PATCH', '/api/v1/registries/basicanon', { body: { sku: 'Platinum' } });
    expect(errorFields(unknownSku)).toEqual(['sku']);
    expectProblem(await t.request('PATCH', '/api/v1/registries/nosuchregistry', { body: {} }), 404);
  });

  it('refuses a downgrade from Standard with 3 webhooks to Basic', async () => {
    expect((await createRegistry({ name: 'threehooks', sku: 'Standard' })).status).toBe(201);
    await addWebhooks('threehooks', 3);
    const res = await t.request('PATCH', '/api/v1/registries/threehooks', { body: { sku: 'Basic' } });
    const problem = expectProblem(res, 409);
    expect(problem.code).toBe('REGISTRY_SKU_LIMITS_EXCEEDED');
    expect(problem.limits).toEqual([{ name: 'Webhooks', limit: 2, currentValue: 3, message: expect.any(String) }]);
    expect((await t.db.registry.findUnique({ where: { name: 'threehooks' } }))?.skuName).toBe('Standard');
  });

  it('refuses a downgrade of a Standard registry with anonymous pull, naming every exceeded limit', async () => {
    expect((await createRegistry({ name: 'anonstandard', sku: 'Standard', anonymousPullEnabled: true })).status).toBe(201);
    await t.db.registry.update({ where: { name: 'anonstandard' }, data: { storageUsedBytes: BigInt(11 * GIB) } });
    const res = await t.request('PATCH', '/api/v1/registries/anonstandard', { body: { sku: 'Basic' } });
    const problem = expectProblem(res, 409);
    expect(problem.limits.map((l: { name: string }) => l.name).sort()).toEqual(['AnonymousPull', 'Size']);
    expect(problem.limits.find((l: { name: string }) => l.name === 'Size')).toMatchObject({ limit: 10 * GIB, currentValue: 11 * GIB });
    // Turning anonymous pull off in the same request is not enough while storage exceeds Basic's.
    const both = await t.request('PATCH', '/api/v1/registries/anonstandard', { body: { sku: 'Basic', anonymousPullEnabled: false } });
    expect(expectProblem(both, 409).limits.map((l: { name: string }) => l.name)).toEqual(['Size']);
    await t.db.registry.update({ where: { name: 'anonstandard' }, data: { storageUsedBytes: 0n } });
    const ok = await t.request('PATCH', '/api/v1/registries/anonstandard', { body: { sku: 'Basic', anonymousPullEnabled: false } });
    expect(ok.status).toBe(200);
    expect(ok.body.sku.name).toBe('Basic');
  });

  it('refuses a downgrade with more service principals than the target allows', async () => {
    expect((await createRegistry({ name: 'manyprincipals', sku: 'Standard' })).status).toBe(201);
    for (const displayName of ['sp-one', 'sp-two', 'sp-three']) {
      const sp = await t.request('POST', '/api/v1/registries/manyprincipals/service-principals', { body: { displayName } });
      expect(sp.status).toBe(201);
    }
    await t.db.sku.update({ where: { name: 'Basic' }, data: { maxServicePrincipals: 2 } });
    try {
      const res = await t.request('PATCH', '/api/v1/registries/manyprincipals', { body: { sku: 'Basic' } });
      expect(expectProblem(res, 409).limits).toEqual([
        expect.objectContaining({ name: 'ServicePrincipals', limit: 2, currentValue: 3 }),
      ]);
    } finally {
      await t.db.sku.update({ where: { name: 'Basic' }, data: { maxServicePrincipals: 100 } });
    }
  });
});

describe('delete', () => {
  it('answers 202, marks Deleting and writes the outbox event in the same transaction', async () => {
    const created = await createRegistry({ name: 'deleteme', sku: 'Standard' });
    await addWebhooks('deleteme', 1);
    const res = await t.request('DELETE', '/api/v1/registries/DeleteMe');
    expect(res.status).toBe(202);
    expect(res.body.properties.provisioningState).toBe('Deleting');
    expect(res.body.properties.deletionRequestedAt).toEqual(expect.any(String));

    const events = await t.db.outboxEvent.findMany({ where: { registryId: created.body.id } });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'registry.delete',
      payload: { registryId: created.body.id, registryName: 'deleteme' },
      sentAt: null,
    });

    // Still visible, as Deleting; changes are refused; the name stays taken.
    expect((await t.request('GET', '/api/v1/registries/deleteme')).body.properties.provisioningState).toBe('Deleting');
    expect(expectProblem(await t.request('PATCH', '/api/v1/registries/deleteme', { body: { adminUserEnabled: true } }), 409).code).toBe(
      'REGISTRY_DELETING',
    );
    expectProblem(
      await t.request('POST', '/api/v1/registries/deleteme/webhooks', {
        body: { name: 'another1', serviceUri: 'https://example.com/', actions: ['push'] },
      }),
      409,
    );
    expectProblem(await t.request('POST', '/api/v1/registries/deleteme/webhooks/hook0abc/ping'), 409);
    expect(expectProblem(await createRegistry({ name: 'DELETEME' }), 409).code).toBe('REGISTRY_NAME_TAKEN');
    const availability = await t.request('POST', '/api/v1/registries/check-name-availability', { body: { name: 'deleteme' } });
    expect(availability.body).toMatchObject({ nameAvailable: false, reason: 'AlreadyExists' });

    // Deleting again is accepted without a second job.
    expect((await t.request('DELETE', '/api/v1/registries/deleteme')).status).toBe(202);
    expect(await t.db.outboxEvent.count({ where: { registryId: created.body.id } })).toBe(1);

    // Once the worker's purge removes the row, the name is free again.
    await t.db.registry.delete({ where: { id: created.body.id } });
    expect((await createRegistry({ name: 'deleteme' })).status).toBe(201);
  });

  it('answers 404 for an unknown registry', async () => {
    expectProblem(await t.request('DELETE', '/api/v1/registries/nosuchregistry'), 404);
  });
});

describe('usages and repositories', () => {
  it('reports size, webhooks and principals against the SKU limits', async () => {
    const created = await createRegistry({ name: 'usagereg' });
    await addWebhooks('usagereg', 1);
    await t.db.registry.update({ where: { id: created.body.id }, data: { storageUsedBytes: 12345n } });
    const res = await t.request('GET', '/api/v1/registries/usagereg/usages');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      value: [
        { name: 'Size', limit: 10 * GIB, currentValue: 12345, unit: 'Bytes' },
        { name: 'Webhooks', limit: 2, currentValue: 1, unit: 'Count' },
        { name: 'ServicePrincipals', limit: 100, currentValue: 0, unit: 'Count' },
      ],
    });
    expectProblem(await t.request('GET', '/api/v1/registries/nosuchregistry/usages'), 404);
  });

  it('lists repository names, paged', async () => {
    const created = await createRegistry({ name: 'reporeg' });
    const other = await createRegistry({ name: 'otherreporeg' });
    for (const name of ['team/web', 'alpha', 'team/api']) {
      await t.db.repository.create({ data: { registryId: created.body.id, name } });
    }
    await t.db.repository.create({ data: { registryId: other.body.id, name: 'elsewhere' } });
    const first = await t.request('GET', '/api/v1/registries/reporeg/repositories?top=2');
    expect(first.status).toBe(200);
    expect(first.body.value.map((r: { name: string }) => r.name)).toEqual(['alpha', 'team/api']);
    expect(first.body.value[0]).toMatchObject({ changeableAttributes: { deleteEnabled: true, writeEnabled: true, readEnabled: true, listEnabled: true } });
    const second = await t.request('GET', first.body.nextLink);
    expect(second.body).toEqual({ value: [expect.objectContaining({ name: 'team/web' })], nextLink: null });
    expectProblem(await t.request('GET', '/api/v1/registries/nosuchregistry/repositories'), 404);
  });

  describe('one repository: get, lock attributes, delete', () => {
    let registryId: string;
    const repoPath = (name: string) => `/api/v1/registries/lockreg/repositories/${encodeURIComponent(name)}`;

    /** A repository with one manifest tagged `tags`, as pushes through the data plane leave it. */
    async function seedRepository(name: string, tags: string[], manifest: { deleteEnabled?: boolean } = {}) {
      const repository = await t.db.repository.create({ data: { registryId, name } });
      const digest = `sha256:${Buffer.from(name).toString('hex').padEnd(64, '0').slice(0, 64)}`;
      const row = await t.db.manifest.create({
        data: {
          registryId,
          repositoryId: repository.id,
          digest,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          size: 2,
          payload: Buffer.from('{}'),
          ...manifest,
        },
      });
      for (const tag of tags) await t.db.tag.create({ data: { repositoryId: repository.id, name: tag, manifestId: row.id } });
      await t.db.registry.update({ where: { id: registryId }, data: { storageUsedBytes: { increment: 2 } } });
      return { repository, digest };
    }

    beforeAll(async () => {
      registryId = (await createRegistry({ name: 'lockreg' })).body.id;
    });

    it('gets a repository by its URL-encoded name, 404 for unknown or invalid names', async () => {
      await seedRepository('team/app/web', ['v1']);
      const res = await t.request('GET', repoPath('team/app/web'));
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        name: 'team/app/web',
        createdTime: expect.any(String),
        lastUpdateTime: expect.any(String),
        changeableAttributes: { deleteEnabled: true, writeEnabled: true, readEnabled: true, listEnabled: true },
      });
      for (const name of ['team/app', 'Team/App/Web', 'team//app']) {
        expect(expectProblem(await t.request('GET', repoPath(name)), 404).code).toBe('REPOSITORY_NOT_FOUND');
      }
      expectProblem(await t.request('GET', '/api/v1/registries/nosuchregistry/repositories/x'), 404);
    });

    it('changes lock attributes and validates them', async () => {
      const res = await t.request('PATCH', repoPath('team/app/web'), { body: { writeEnabled: false, listEnabled: false } });
      expect(res.status).toBe(200);
      expect(res.body.changeableAttributes).toEqual({ deleteEnabled: true, writeEnabled: false, readEnabled: true, listEnabled: false });
      const stored = await t.db.repository.findFirstOrThrow({ where: { registryId, name: 'team/app/web' } });
      expect([stored.writeEnabled, stored.listEnabled]).toEqual([false, false]);
      expect(errorFields(await t.request('PATCH', repoPath('team/app/web'), { body: { readEnabled: 'no' } }))).toEqual(['readEnabled']);
      expect(errorFields(await t.request('PATCH', repoPath('team/app/web'), { body: { colour: 'red' } }))).toEqual(['colour']);
      expectProblem(await t.request('PATCH', repoPath('not/there'), { body: { writeEnabled: false } }), 404);
    });

    it('deletes a repository with its manifests and tags, records one repository.delete event, and frees its usage', async () => {
      const { digest } = await seedRepository('gone/soon', ['a', 'b']);
      const usedBefore = (await t.db.registry.findUniqueOrThrow({ where: { id: registryId } })).storageUsedBytes;
      const res = await t.request('DELETE', repoPath('gone/soon'), { headers: { 'user-agent': 'repo-deleter/1.0' } });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ name: 'gone/soon', manifestsDeleted: [digest], tagsDeleted: ['a', 'b'] });
      expect(await t.db.repository.count({ where: { registryId, name: 'gone/soon' } })).toBe(0);
      expect(await t.db.manifest.count({ where: { registryId, digest } })).toBe(0);
      expect((await t.db.registry.findUniqueOrThrow({ where: { id: registryId } })).storageUsedBytes).toBe(usedBefore - 2n);
      const events = await t.db.outboxEvent.findMany({ where: { registryId, type: 'repository.delete' } });
      expect(events).toHaveLength(1);
      expect(events[0]!.payload).toMatchObject({
        registryName: 'lockreg',
        repository: 'gone/soon',
        manifestsDeleted: [digest],
        tagsDeleted: ['a', 'b'],
        request: { method: 'DELETE', useragent: 'repo-deleter/1.0' },
      });
      expectProblem(await t.request('DELETE', repoPath('gone/soon')), 404);
    });

    it('refuses to delete a repository with something locked, deleting nothing', async () => {
      await seedRepository('kept/locked', ['stable'], { deleteEnabled: false });
      const problem = expectProblem(await t.request('DELETE', repoPath('kept/locked')), 409);
      expect(problem.code).toBe('REPOSITORY_LOCKED');
      expect(problem.detail).toMatch(/manifest sha256:[0-9a-f]{64} has deleteEnabled=false/);
      expect(await t.db.tag.count({ where: { repository: { registryId, name: 'kept/locked' } } })).toBe(1);
      await t.request('PATCH', repoPath('team/app/web'), { body: { deleteEnabled: false } });
      expect(expectProblem(await t.request('DELETE', repoPath('team/app/web')), 409).detail).toContain('the repository has deleteEnabled=false');
    });

    it('lets an Owner service principal of the registry do the same', async () => {
      const owner = await t.request('POST', '/api/v1/registries/lockreg/service-principals', { body: { displayName: 'repo-owner', role: 'Owner' } });
      const auth = { key: null, headers: { authorization: `Basic ${Buffer.from(`${owner.body.clientId}:${owner.body.secret}`).toString('base64')}` } };
      await seedRepository('owned/by/team', ['x']);
      expect((await t.request('GET', repoPath('owned/by/team'), auth)).status).toBe(200);
      expect((await t.request('DELETE', repoPath('owned/by/team'), auth)).status).toBe(200);
      expect(await t.db.repository.count({ where: { registryId, name: 'owned/by/team' } })).toBe(0);
    });
  });
});

describe('SKUs', () => {
  it('lists the three SKUs with limits as numbers and features', async () => {
    const res = await t.request('GET', '/api/v1/skus');
    expect(res.status).toBe(200);
    expect(res.body.value.map((s: { name: string }) => s.name)).toEqual(['Basic', 'Standard', 'Premium']);
    const [basic, standard, premium] = res.body.value;
    expect(basic).toEqual({
      name: 'Basic',
      tier: 'Basic',
      rank: 1,
      limits: {
        includedStorageBytes: 10 * GIB,
        includedStorageGiB: 10,
        webhooks: 2,
        readOpsPerMinute: 1000,
        writeOpsPerMinute: 100,
        maxLayerBytes: 200 * GIB,
        maxManifestBytes: 4 * 1024 * 1024,
        maxServicePrincipals: 100,
      },
      features: { anonymousPull: false, retentionPolicy: false },
    });
    expect(standard.limits).toMatchObject({ includedStorageGiB: 100, webhooks: 10, readOpsPerMinute: 3000, writeOpsPerMinute: 500 });
    expect(standard.features).toEqual({ anonymousPull: true, retentionPolicy: false });
    expect(premium.limits).toMatchObject({ includedStorageGiB: 500, webhooks: 500, readOpsPerMinute: 10000, writeOpsPerMinute: 2000 });
    expect(premium.features).toEqual({ anonymousPull: true, retentionPolicy: true });
  });
});
