import { errorCode, type RegistryClient } from './support/client';
import { startHarness, type Harness } from './support/harness';
import { pushBlob, pushImage, testBlob } from './support/oci';
import { seedRegistry, seedServicePrincipal, type SeededRegistry } from './support/seed';

const NULL_GUID = '00000000-0000-0000-0000-000000000000';

function claimsOf(token: string): any {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'));
}

describe('registry authentication and authorisation', () => {
  let h: Harness;
  let alpha: SeededRegistry;
  let beta: SeededRegistry;
  let anon: SeededRegistry;
  let image: Awaited<ReturnType<typeof pushImage>>;
  let c: RegistryClient;

  beforeAll(async () => {
    h = await startHarness();
    alpha = await seedRegistry(h.db, h.config, { name: 'alpha' });
    beta = await seedRegistry(h.db, h.config, { name: 'betareg' });
    anon = await seedRegistry(h.db, h.config, { name: 'anonreg', anonymousPullEnabled: true });
    c = h.client('alpha');
    image = await pushImage(c.as({ basic: alpha.admin }), 'team/app', 'v1');
    await pushImage(h.client('anonreg', { basic: anon.admin }), 'public/app', 'v1');
  });

  afterAll(async () => {
    await h?.close();
  });

  describe('challenge and ping', () => {
    it('answers an unauthenticated /v2/ with 401 and the Bearer challenge', async () => {
      const res = await c.get('/v2/');
      expect(res.status).toBe(401);
      expect(res.header('www-authenticate')).toBe('Bearer realm="http://alpha.berth.test/oauth2/token",service="alpha.berth.test"');
      expect(res.header('docker-distribution-api-version')).toBe('registry/2.0');
      expect(errorCode(res)).toBe('UNAUTHORIZED');
    });

    it('keeps the port of the Host header in realm and service', async () => {
      const res = await c.get('/v2/', { host: 'alpha.berth.test:5000' });
      expect(res.header('www-authenticate')).toBe('Bearer realm="http://alpha.berth.test:5000/oauth2/token",service="alpha.berth.test:5000"');
    });

    it('names the scope in the challenge of a repository request', async () => {
      const res = await c.get('/v2/team/app/tags/list');
      expect(res.status).toBe(401);
      expect(res.header('www-authenticate')).toContain('scope="repository:team/app:pull"');
      expect(res.json().errors[0].detail).toEqual([{ Type: 'repository', Name: 'team/app', Action: 'pull' }]);
    });

    it('accepts a token of the registry on /v2/, and Basic credentials directly', async () => {
      const token = await c.token(alpha.admin);
      const ping = await c.get('/v2/', { auth: { bearer: token } });
      expect(ping.status).toBe(200);
      expect(ping.json()).toEqual({});
      expect((await c.get('/v2/', { auth: { basic: alpha.admin } })).status).toBe(200);
      expect((await c.get('/v2/', { auth: { basic: [alpha.name, 'wrong'] } })).status).toBe(401);
    });

    it('rejects malformed, tampered and foreign-registry tokens with 401', async () => {
      const token = await c.token(alpha.admin, 'repository:team/app:pull');
      const [header, , signature] = token.split('.');
      const claims = claimsOf(token);
      claims.access[0].actions.push('delete');
      const forged = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
      for (const bad of ['x', 'a.b.c', forged]) {
        const res = await c.get('/v2/team/app/tags/list', { auth: { bearer: bad } });
        expect(res.status).toBe(401);
        expect(res.header('www-authenticate')).toContain('error="invalid_token"');
      }
      const betaToken = await h.client('betareg').token(beta.admin, 'repository:team/app:pull');
      const res = await c.get('/v2/team/app/tags/list', { auth: { bearer: betaToken } });
      expect(res.status).toBe(401);
      expect(errorCode(res)).toBe('UNAUTHORIZED');
    });
  });

  describe('token endpoint', () => {
    it('issues an access token bound to the registry with the requested, allowed scopes', async () => {
      const res = await c.get('/oauth2/token?service=alpha.berth.test&scope=repository:team/app:pull,push&scope=registry:catalog:*', {
        auth: { basic: alpha.admin },
      });
      expect(res.status).toBe(200);
      const body = res.json();
      expect(body.token).toBe(body.access_token);
      expect(body.expires_in).toBe(h.config.tokens.accessTtlSeconds);
      expect(new Date(body.issued_at).getTime()).toBeGreaterThan(Date.now() - 60_000);
      expect(body.refresh_token).toBeUndefined();
      const claims = claimsOf(body.access_token);
      expect(claims).toMatchObject({ iss: 'berth', sub: 'alpha', aud: 'alpha.berth.test', rid: alpha.id, typ: 'access' });
      expect(claims.access).toEqual([
        { type: 'repository', name: 'team/app', actions: ['pull', 'push'] },
        { type: 'registry', name: 'catalog', actions: ['*'] },
      ]);
    });

    it('accepts either admin password and space-separated scopes', async () => {
      const res = await c.get(`/oauth2/token?scope=${encodeURIComponent('repository:a:pull repository:b:push')}`, {
        auth: { basic: [alpha.name, alpha.password2] },
      });
      expect(res.status).toBe(200);
      expect(claimsOf(res.json().access_token).access.map((e: any) => e.name)).toEqual(['a', 'b']);
    });

    it('refuses wrong credentials with 401 UNAUTHORIZED', async () => {
      for (const auth of [
        { basic: [alpha.name, 'nope'] as [string, string] },
        { basic: ['someone', 'x'] as [string, string] },
        { basic: [beta.name, beta.admin[1]] as [string, string] },
        { basic: [NULL_GUID, 'not-a-token'] as [string, string] },
      ]) {
        const res = await c.get('/oauth2/token?scope=repository:team/app:pull', { auth });
        expect(res.status).toBe(401);
        expect(errorCode(res)).toBe('UNAUTHORIZED');
      }
      // No credentials and no anonymous pull on this registry.
      expect((await c.get('/oauth2/token?scope=repository:team/app:pull')).status).toBe(401);
    });

    it('supports the POST password grant with access_type=offline (docker login)', async () => {
      const form = new URLSearchParams({
        grant_type: 'password',
        username: alpha.admin[0],
        password: alpha.admin[1],
        service: 'alpha.berth.test',
        client_id: 'docker',
        access_type: 'offline',
      });
      const res = await c.post('/oauth2/token', { body: form.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      expect(res.status).toBe(200);
      expect(res.json().refresh_token).toEqual(expect.any(String));
      expect(claimsOf(res.json().refresh_token)).toMatchObject({ typ: 'refresh', aud: 'alpha.berth.test', identity: { kind: 'admin' } });
    });

    it('runs the refresh-token flow: offline_token=true, then grant_type=refresh_token and the null-GUID username', async () => {
      const first = await c.get('/oauth2/token?offline_token=true&scope=repository:team/app:pull', { auth: { basic: alpha.admin } });
      const refresh = first.json().refresh_token as string;
      expect(refresh).toEqual(expect.any(String));
      expect(claimsOf(refresh).exp - claimsOf(refresh).iat).toBe(h.config.tokens.refreshTtlSeconds);

      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refresh, service: 'alpha.berth.test', scope: 'repository:team/app:pull' });
      const refreshed = await c.post('/oauth2/token', { body: form.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      expect(refreshed.status).toBe(200);
      const access = refreshed.json().access_token;
      expect((await c.get(`/v2/team/app/manifests/v1`, { auth: { bearer: access } })).status).toBe(200);

      const viaBasic = await c.get('/oauth2/token?scope=repository:team/app:pull', { auth: { basic: [NULL_GUID, refresh] } });
      expect(viaBasic.status).toBe(200);

      // A refresh token is never an access token, and is bound to its registry.
      expect((await c.get('/v2/', { auth: { bearer: refresh } })).status).toBe(401);
      const onBeta = await h.client('betareg').post('/oauth2/token', { body: form.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      expect(onBeta.status).toBe(401);
      const bogus = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'abc' });
      expect((await c.post('/oauth2/token', { body: bogus.toString() })).status).toBe(401);
    });

    it('rejects unknown grant types and answers /oauth2/exchange as unsupported', async () => {
      const res = await c.post('/oauth2/token', { body: 'grant_type=client_credentials' });
      expect(res.status).toBe(400);
      expect(errorCode(res)).toBe('UNSUPPORTED');
      const exchange = await c.post('/oauth2/exchange', { body: 'grant_type=access_token' });
      expect(exchange.status).toBe(405);
      expect(errorCode(exchange)).toBe('UNSUPPORTED');
    });
  });

  describe('admin user', () => {
    it('stops working once disabled, including its refresh tokens', async () => {
      const gamma = await seedRegistry(h.db, h.config, { name: 'gammareg' });
      const g = h.client('gammareg');
      const first = await g.get('/oauth2/token?offline_token=true', { auth: { basic: gamma.admin } });
      expect(first.status).toBe(200);
      const refresh = first.json().refresh_token;

      await h.db.registry.update({ where: { id: gamma.id }, data: { adminUserEnabled: false } });
      const res = await g.get('/oauth2/token?scope=repository:x:pull', { auth: { basic: gamma.admin } });
      expect(res.status).toBe(401);
      expect(errorCode(res)).toBe('UNAUTHORIZED');
      expect((await g.get('/v2/', { auth: { basic: gamma.admin } })).status).toBe(401);
      const refreshed = await g.get('/oauth2/token', { auth: { basic: [NULL_GUID, refresh] } });
      expect(refreshed.status).toBe(401);
    });
  });

  describe('service principals', () => {
    it('gives AcrPull pull only: pushing is denied with 403 DENIED', async () => {
      const sp = await seedServicePrincipal(h.db, h.config, alpha.id, { roles: [{ role: 'AcrPull' }] });
      const token = await c.token(sp.credentials, 'repository:team/app:pull,push');
      expect(claimsOf(token).access).toEqual([{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
      const pull = await c.get('/v2/team/app/manifests/v1', { auth: { bearer: token } });
      expect(pull.status).toBe(200);
      const push = await c.post('/v2/team/app/blobs/uploads/', { auth: { bearer: token } });
      expect(push.status).toBe(403);
      expect(errorCode(push)).toBe('DENIED');
      // Basic credentials directly: same rules.
      const direct = await c.post('/v2/team/app/blobs/uploads/', { auth: { basic: sp.credentials } });
      expect(direct.status).toBe(403);
      expect((await c.get('/v2/team/app/tags/list', { auth: { basic: sp.credentials } })).status).toBe(200);
    });

    it('gives AcrPush push and pull, AcrDelete delete only', async () => {
      const pusher = await seedServicePrincipal(h.db, h.config, alpha.id, { roles: [{ role: 'AcrPush' }] });
      const pushToken = await c.token(pusher.credentials, 'repository:sp/app:pull,push,delete');
      expect(claimsOf(pushToken).access[0].actions).toEqual(['pull', 'push']);
      await pushBlob(c.as({ bearer: pushToken }), 'sp/app', testBlob('pushed by a principal'));

      const deleter = await seedServicePrincipal(h.db, h.config, alpha.id, { roles: [{ role: 'AcrDelete' }] });
      const deleteToken = await c.token(deleter.credentials, 'repository:sp/app:pull,delete');
      expect(claimsOf(deleteToken).access[0].actions).toEqual(['delete']);
      const blob = testBlob('pushed by a principal');
      expect((await c.get(`/v2/sp/app/blobs/${blob.digest}`, { auth: { bearer: deleteToken } })).status).toBe(403);
      expect((await c.delete(`/v2/sp/app/blobs/${blob.digest}`, { auth: { bearer: deleteToken } })).status).toBe(202);
    });

    it('limits roles to repository patterns with * wildcards', async () => {
      const sp = await seedServicePrincipal(h.db, h.config, alpha.id, { roles: [{ role: 'AcrPull', repositories: ['team/*'] }] });
      const token = await c.token(sp.credentials, 'repository:team/app:pull', 'repository:other:pull', 'registry:catalog:*');
      expect(claimsOf(token).access).toEqual([
        { type: 'repository', name: 'team/app', actions: ['pull'] },
        { type: 'repository', name: 'other', actions: [] },
        { type: 'registry', name: 'catalog', actions: [] },
      ]);
      expect((await c.get('/v2/team/app/tags/list', { auth: { bearer: token } })).status).toBe(200);
      expect((await c.get('/v2/other/tags/list', { auth: { bearer: token } })).status).toBe(403);
      // A repository-limited principal may not list the catalog.
      expect((await c.get('/v2/_catalog', { auth: { bearer: token } })).status).toBe(403);
    });

    it('refuses an expired secret', async () => {
      const sp = await seedServicePrincipal(h.db, h.config, alpha.id, { roles: [{ role: 'AcrPull' }], expiresAt: new Date(Date.now() - 1000) });
      const res = await c.get('/oauth2/token?scope=repository:team/app:pull', { auth: { basic: sp.credentials } });
      expect(res.status).toBe(401);
      expect((await c.get('/v2/team/app/tags/list', { auth: { basic: sp.credentials } })).status).toBe(401);
    });

    it('refuses a revoked (deleted) secret, and ends its refresh tokens', async () => {
      const sp = await seedServicePrincipal(h.db, h.config, alpha.id, { roles: [{ role: 'AcrPull' }] });
      const first = await c.get('/oauth2/token?offline_token=true', { auth: { basic: sp.credentials } });
      expect(first.status).toBe(200);
      const refresh = first.json().refresh_token;
      expect((await c.get('/oauth2/token', { auth: { basic: [NULL_GUID, refresh] } })).status).toBe(200);

      await h.db.servicePrincipalSecret.delete({ where: { id: sp.secretId } });
      expect((await c.get('/oauth2/token', { auth: { basic: sp.credentials } })).status).toBe(401);
      expect((await c.get('/oauth2/token', { auth: { basic: [NULL_GUID, refresh] } })).status).toBe(401);
    });

    it('does not authenticate a principal of another registry', async () => {
      const sp = await seedServicePrincipal(h.db, h.config, beta.id, { roles: [{ role: 'Owner' }] });
      expect((await c.get('/oauth2/token', { auth: { basic: sp.credentials } })).status).toBe(401);
      expect((await h.client('betareg').get('/oauth2/token', { auth: { basic: sp.credentials } })).status).toBe(200);
    });
  });

  describe('catalog permission', () => {
    it('needs registry:catalog:* in the token', async () => {
      const without = await c.token(alpha.admin, 'repository:team/app:pull');
      const res = await c.get('/v2/_catalog', { auth: { bearer: without } });
      expect(res.status).toBe(401);
      expect(res.header('www-authenticate')).toContain('scope="registry:catalog:*"');
      const withCatalog = await c.token(alpha.admin, 'registry:catalog:*');
      const listed = await c.get('/v2/_catalog', { auth: { bearer: withCatalog } });
      expect(listed.status).toBe(200);
      expect(listed.json().repositories).toContain('team/app');
    });

    it('is granted to an unrestricted AcrPull principal', async () => {
      const sp = await seedServicePrincipal(h.db, h.config, alpha.id, { roles: [{ role: 'AcrPull' }] });
      const token = await c.token(sp.credentials, 'registry:catalog:*');
      expect((await c.get('/v2/_catalog', { auth: { bearer: token } })).status).toBe(200);
    });
  });

  describe('anonymous pull', () => {
    it('issues pull-only tokens without credentials where enabled', async () => {
      const a = h.client('anonreg');
      const token = await a.token(undefined, 'repository:public/app:pull,push', 'registry:catalog:*');
      expect(claimsOf(token).access).toEqual([{ type: 'repository', name: 'public/app', actions: ['pull'] }]);
      expect((await a.get('/v2/public/app/manifests/v1', { auth: { bearer: token } })).status).toBe(200);
      const push = await a.post('/v2/public/app/blobs/uploads/', { auth: { bearer: token } });
      expect([401, 403]).toContain(push.status);
      // Without any token at all, pulls work too; pushes are challenged.
      expect((await a.get('/v2/public/app/manifests/v1')).status).toBe(200);
      const anonPush = await a.post('/v2/public/app/blobs/uploads/');
      expect(anonPush.status).toBe(401);
      expect(anonPush.header('www-authenticate')).toContain('scope="repository:public/app:push"');
      // /v2/ still challenges, so clients can log in.
      expect((await a.get('/v2/')).status).toBe(401);
    });

    it('is refused where disabled (and once disabled)', async () => {
      expect((await c.get('/v2/team/app/manifests/v1')).status).toBe(401);
      await h.db.registry.update({ where: { id: anon.id }, data: { anonymousPullEnabled: false } });
      const a = h.client('anonreg');
      expect((await a.get('/oauth2/token?scope=repository:public/app:pull')).status).toBe(401);
      expect((await a.get('/v2/public/app/manifests/v1')).status).toBe(401);
      await h.db.registry.update({ where: { id: anon.id }, data: { anonymousPullEnabled: true } });
    });
  });

  it('keeps pulling the pushed image with an admin token (sanity)', async () => {
    const token = await c.token(alpha.admin, 'repository:team/app:pull');
    const res = await c.get(`/v2/team/app/manifests/${image.digest}`, { auth: { bearer: token } });
    expect(res.status).toBe(200);
    expect(res.header('docker-content-digest')).toBe(image.digest);
  });
});
