// TLS served by the data plane itself (the standalone app, as `npm run start:registry`
// runs it) and TLS terminated by a proxy in front of it (X-Forwarded-*).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { requireDatabaseUrl } from '@berth/config';
import { createRegistryServer, type RegistryServer } from '../src/registry-server';
import { errorCode, RegistryClient } from './support/client';
import { startHarness, TEST_DOMAIN, type Harness } from './support/harness';
import { imageConfig, ociManifest, pushBlob, testBlob } from './support/oci';
import { seedRegistry, type SeededRegistry } from './support/seed';

const ROOT = path.resolve(__dirname, '..', '..', '..');
/** Shared with the child process, which must verify what the harness seeds. */
const SECRET_KEY = 'tls-proxy-e2e-secret-key-0123456789abcdef';

async function freePort(): Promise<number> {
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

interface HttpsAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function httpsGet(port: number, urlPath: string, options: { servername: string; ca: Buffer; headers?: Record<string, string> }): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path: urlPath,
        servername: options.servername,
        ca: options.ca,
        headers: { host: `${options.servername}:${port}`, ...options.headers },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('TLS and proxies', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ BERTH_SECRET_KEY: SECRET_KEY });
  });

  afterAll(async () => {
    await h?.close();
  });

  describe('HTTPS served by the standalone data plane', () => {
    let dir: string;
    let cert: Buffer;
    let child: ChildProcess | undefined;
    let port: number;
    let reg: SeededRegistry;

    beforeAll(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'berth-tls-'));
      const certFile = path.join(dir, 'cert.pem');
      const keyFile = path.join(dir, 'key.pem');
      execFileSync('openssl', [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', keyFile, '-out', certFile, '-days', '2',
        '-subj', `/CN=*.${TEST_DOMAIN}`, '-addext', `subjectAltName=DNS:*.${TEST_DOMAIN}`,
      ], { stdio: 'ignore' });
      cert = await readFile(certFile);
      reg = await seedRegistry(h.db, h.config, { name: 'tlsreg' });
      port = await freePort();
      child = spawn(process.execPath, ['-r', path.join(ROOT, 'scripts', 'register.js'), path.join(ROOT, 'apps', 'registry', 'src', 'main.ts')], {
        cwd: ROOT,
        stdio: ['ignore', 'ignore', 'inherit'],
        env: {
          ...process.env,
          NODE_ENV: 'test',
          LOG_LEVEL: 'silent',
          DATABASE_URL: requireDatabaseUrl(h.config),
          BERTH_DOMAIN: TEST_DOMAIN,
          BERTH_SECRET_KEY: SECRET_KEY,
          STORAGE_DRIVER: 'filesystem',
          STORAGE_PATH: h.storagePath,
          REGISTRY_PORT: String(port),
          REGISTRY_TLS_CERT: certFile,
          REGISTRY_TLS_KEY: keyFile,
          BERTH_TRUSTED_PROXIES: '',
        },
      });
      const deadline = Date.now() + 30_000;
      for (;;) {
        const ready = await httpsGet(port, '/healthz', { servername: `tlsreg.${TEST_DOMAIN}`, ca: cert }).then(
          (res) => res.status === 200,
          () => false,
        );
        if (ready) break;
        if (child.exitCode !== null || Date.now() > deadline) throw new Error('the data plane did not start serving HTTPS');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }, 40_000);

    afterAll(async () => {
      if (child && child.exitCode === null) {
        const exited = new Promise((resolve) => child!.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('serves the wildcard certificate and points the token realm at https://', async () => {
      const host = `tlsreg.${TEST_DOMAIN}`;
      const challenge = await httpsGet(port, '/v2/', { servername: host, ca: cert });
      expect(challenge.status).toBe(401);
      expect(challenge.headers['www-authenticate']).toBe(`Bearer realm="https://${host}:${port}/oauth2/token",service="${host}:${port}"`);

      const basic = `Basic ${Buffer.from(reg.admin.join(':')).toString('base64')}`;
      const token = await httpsGet(port, `/oauth2/token?service=${host}&scope=repository:app:pull`, { servername: host, ca: cert, headers: { authorization: basic } });
      expect(token.status).toBe(200);
      const bearer = JSON.parse(token.body).access_token as string;
      expect((await httpsGet(port, '/v2/', { servername: host, ca: cert, headers: { authorization: `Bearer ${bearer}` } })).status).toBe(200);
    });

    it('fails the handshake for a name the certificate does not cover, and does not speak plain HTTP', async () => {
      await expect(httpsGet(port, '/v2/', { servername: 'tlsreg.other.test', ca: cert })).rejects.toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
      await expect(httpsGet(port, '/v2/', { servername: `tlsreg.${TEST_DOMAIN}`, ca: Buffer.from('') })).rejects.toThrow();
      const plain = new RegistryClient(port, `tlsreg.${TEST_DOMAIN}`);
      await expect(plain.get('/v2/')).rejects.toThrow();
    });
  });

  describe('behind a TLS-terminating proxy', () => {
    let proxied: RegistryServer;
    let reg: SeededRegistry;
    /** Talks to the server that trusts 127.0.0.1 (where the tests connect from). */
    let viaProxy: RegistryClient;
    /** Talks to the harness server, which trusts no proxy. */
    let direct: RegistryClient;
    const forwarded = { 'x-forwarded-host': `proxreg.${TEST_DOMAIN}`, 'x-forwarded-proto': 'https' };

    beforeAll(async () => {
      proxied = await createRegistryServer({ ...h.config, trustedProxies: ['10.0.0.0/8', '127.0.0.1'] }, { redis: null, registryCacheTtlMs: 0 });
      await new Promise<void>((resolve) => proxied.server.listen(0, '127.0.0.1', resolve));
      reg = await seedRegistry(h.db, h.config, { name: 'proxreg' });
      // What the proxy sends upstream: its own Host, the client's in X-Forwarded-Host.
      viaProxy = new RegistryClient((proxied.server.address() as AddressInfo).port, 'registry-upstream:5000', { basic: reg.admin });
      direct = h.client('proxreg', { basic: reg.admin });
    });

    afterAll(async () => {
      await proxied?.close();
    });

    it('routes by X-Forwarded-Host and builds the realm from X-Forwarded-Proto/-Host of a trusted peer', async () => {
      const challenge = await viaProxy.get('/v2/', { headers: forwarded, auth: null });
      expect(challenge.status).toBe(401);
      expect(challenge.header('www-authenticate')).toBe(`Bearer realm="https://proxreg.${TEST_DOMAIN}/oauth2/token",service="proxreg.${TEST_DOMAIN}"`);
      // Chained proxies: the first value is the outermost one's, the client's view.
      const chained = await viaProxy.get('/v2/', {
        headers: { 'x-forwarded-host': `proxreg.${TEST_DOMAIN}, registry-upstream:5000`, 'x-forwarded-proto': 'https, http' },
        auth: null,
      });
      expect(chained.header('www-authenticate')).toContain(`realm="https://proxreg.${TEST_DOMAIN}/oauth2/token"`);

      const token = await viaProxy.get(`/oauth2/token?service=proxreg.${TEST_DOMAIN}&scope=repository:app:pull,push`, { headers: forwarded, auth: { basic: reg.admin } });
      expect(token.status).toBe(200);
      const bearer = { bearer: token.json().access_token as string };
      expect((await viaProxy.get('/v2/', { headers: forwarded, auth: bearer })).status).toBe(200);

      // Without the forwarded host the upstream Host names no registry.
      const unrouted = await viaProxy.get('/v2/', { auth: null });
      expect([unrouted.status, errorCode(unrouted)]).toEqual([404, 'NAME_UNKNOWN']);
    });

    it('answers Location headers as paths, which the client resolves against the URL it used, and records the client-facing host in events', async () => {
      const blob = testBlob();
      const config = imageConfig();
      const start = await viaProxy.post('/v2/app/blobs/uploads/', { headers: forwarded });
      expect(start.status).toBe(202);
      expect(start.header('location')).toMatch(/^\/v2\/app\/blobs\/uploads\/[0-9a-f-]{36}$/);
      const done = await viaProxy.put(`${start.header('location')}?digest=${blob.digest}`, { headers: forwarded, body: blob.data });
      expect(done.status).toBe(201);
      expect(done.header('location')).toBe(`/v2/app/blobs/${blob.digest}`);
      expect(new URL(done.header('location')!, `https://proxreg.${TEST_DOMAIN}/v2/app/blobs/uploads/x`).href).toBe(
        `https://proxreg.${TEST_DOMAIN}/v2/app/blobs/${blob.digest}`,
      );
      await pushBlob(direct, 'app', config);
      const put = await viaProxy.put('/v2/app/manifests/v1', {
        headers: { ...forwarded, 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
        body: ociManifest(config, [blob]),
      });
      expect(put.status).toBe(201);
      expect(put.header('location')).toMatch(/^\/v2\/app\/manifests\/sha256:[0-9a-f]{64}$/);
      const [event] = await h.db.outboxEvent.findMany({ where: { registryId: reg.id, type: 'image.push' } });
      expect((event!.payload as { request: { host: string } }).request.host).toBe(`proxreg.${TEST_DOMAIN}`);
    });

    it('ignores X-Forwarded-* from a peer that is not a trusted proxy', async () => {
      const spoofed = { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' };
      const challenge = await direct.get('/v2/', { headers: spoofed, auth: null });
      expect(challenge.status).toBe(401);
      expect(challenge.header('www-authenticate')).toBe(`Bearer realm="http://proxreg.${TEST_DOMAIN}/oauth2/token",service="proxreg.${TEST_DOMAIN}"`);
      // Nor can an untrusted peer pick the registry with it.
      const upstream = new RegistryClient(h.port, 'registry-upstream:5000', { basic: reg.admin });
      const unrouted = await upstream.get('/v2/', { headers: forwarded });
      expect([unrouted.status, errorCode(unrouted)]).toEqual([404, 'NAME_UNKNOWN']);
    });

    it('refuses to start with a BERTH_TRUSTED_PROXIES entry that is not an address or range', async () => {
      await expect(createRegistryServer({ ...h.config, trustedProxies: ['proxy.internal'] }, { redis: null })).rejects.toThrow(/BERTH_TRUSTED_PROXIES/);
    });
  });
});
