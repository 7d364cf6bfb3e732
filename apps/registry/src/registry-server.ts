import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import Redis from 'ioredis';
import { SecretBox, SecretHasher, TokenService } from '@berth/auth';
import { requireDatabaseUrl, type BerthConfig } from '@berth/config';
import { SqlPool } from '@berth/db/plain';
import { isValidRepositoryName, OciError } from '@berth/oci';
import { createBlobStore, StorageError, type BlobStore } from '@berth/storage';
import { AcrController } from './acr/acr.controller';
import { AcrRepository } from './acr/acr.repository';
import { AcrService } from './acr/acr.service';
import { IdentityRepository } from './auth/identity.repository';
import { IdentityService } from './auth/identity.service';
import { RequestAuthenticator } from './auth/request-authenticator';
import { TokenController } from './auth/token.controller';
import { BlobController } from './blobs/blob.controller';
import { BlobRepository } from './blobs/blob.repository';
import { MetadataCache, MetadataChangeListener } from './data/metadata-cache';
import { ByteBudget } from './http/byte-budget';
import { TrustedProxies } from './http/forwarded';
import { RequestContext } from './http/request-context';
import { send, sendError, sendJson } from './http/respond';
import { Router } from './http/router';
import { RedisRateLimiter, type RateLimiter } from './limits/rate-limiter';
import { ListingController } from './listing/listing.controller';
import { ListingRepository } from './listing/listing.repository';
import { ManifestController } from './manifests/manifest.controller';
import { ManifestRepository } from './manifests/manifest.repository';
import { ManifestService } from './manifests/manifest.service';
import { createLogger, type Logger } from './observability/logger';
import { RegistryMetrics } from './observability/metrics';
import { ReferrerController } from './referrers/referrer.controller';
import { ReferrerRepository } from './referrers/referrer.repository';
import { RegistryRepository } from './registries/registry.repository';
import { RegistryResolver } from './registries/registry-resolver';
import { RepositoryRepository } from './repositories/repository.repository';
import { HashOffload } from './uploads/hash-offload';
import { UploadHashCache } from './uploads/upload-hash-cache';
import { UploadController } from './uploads/upload.controller';
import { UploadRepository } from './uploads/upload.repository';
import { UploadService } from './uploads/upload.service';

/** Collaborators a caller (tests, the all-in-one launcher) may supply; anything omitted is built from the config. */
export interface RegistryServerDeps {
  blobStore?: BlobStore;
  /** A Redis client for rate limiting; `null` disables rate limiting. */
  redis?: Redis | null;
  /** Prefix of every Redis key (tests use one per file). */
  redisKeyPrefix?: string;
  logger?: Logger;
  /** How long a Host → registry answer is cached (ms). */
  registryCacheTtlMs?: number;
  /** Collect Node's default process metrics too (the standalone app does). */
  defaultMetrics?: boolean;
  /** Manifest bytes parsed at once (default MANIFEST_PARSE_BUDGET_BYTES; tests shrink it). */
  manifestParseBudgetBytes?: number;
}

/** Everything route modules need; later modules (e.g. /acr/v1) receive the same. */
export interface RegistryAppContext {
  config: BerthConfig;
  /** The data plane's database pool (plain SQL, prepared statements). */
  db: SqlPool;
  /** Hot lookups answered from memory (manifests, blob links), dropped on every change. */
  metadataCache: MetadataCache;
  store: BlobStore;
  log: Logger;
  metrics: RegistryMetrics;
  router: Router;
  resolver: RegistryResolver;
}

export interface RegistryServer {
  /** Not listening yet: call `listen` (port 0 in tests). */
  server: http.Server;
  app: RegistryAppContext;
  close(): Promise<void>;
}

const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Manifest bytes parsed and validated at once per process; more wait their
 * turn. A parsed manifest costs a few times its size in heap, so this keeps
 * eight maximum-size (4 MiB) manifests, or thousands of ordinary ones, well
 * within the data plane's capped heap (see node-options.ts).
 */
const MANIFEST_PARSE_BUDGET_BYTES = 32 * 1024 * 1024;

/** Upload chunks that may stream at once per process; more wait (up to 30 s) for a connection. */
const UPLOAD_SESSION_CONNECTIONS = 32;

/**
 * Builds the data plane: a plain node:http server with a small router (the
 * hot path stays free of framework overhead and bodies stream straight to
 * and from storage). Returns the server unstarted.
 */
export async function createRegistryServer(config: BerthConfig, deps: RegistryServerDeps = {}): Promise<RegistryServer> {
  const log = deps.logger ?? createLogger(config);
  const trustedProxies = new TrustedProxies(config.trustedProxies);
  const databaseUrl = requireDatabaseUrl(config);
  // Connections stay open 10 minutes idle (HikariCP's and PgBouncer's default), so bursts of
  // pushes minutes apart do not each fork new backends; a few are opened at start.
  const minConnections = config.registryDbMinConnections;
  const idleTimeoutMs = 10 * 60_000;
  const db = new SqlPool(databaseUrl, { maxConnections: 20, minConnections, idleTimeoutMs, connectionTimeoutMs: 10_000, applicationName: 'berth-registry' });
  // Upload requests hold a transaction while their bytes stream (see UploadRepository): their own pool.
  const uploadSessions = new SqlPool(databaseUrl, {
    maxConnections: UPLOAD_SESSION_CONNECTIONS,
    minConnections,
    idleTimeoutMs,
    connectionTimeoutMs: 30_000,
    applicationName: 'berth-registry-uploads',
  });
  const store = deps.blobStore ?? (await createBlobStore(config.storage));
  // Hot lookups answered from memory while database change notifications are heard.
  const metadataCache = new MetadataCache();
  const changes = config.metadataCache ? new MetadataChangeListener(databaseUrl, metadataCache, log) : undefined;
  const ownsRedis = deps.redis === undefined;
  const redis =
    deps.redis === undefined
      ? new Redis(config.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 500, lazyConnect: false })
      : deps.redis;
  redis?.on('error', () => undefined); // connection errors surface (throttled) through the rate limiter
  const rateLimiter: RateLimiter | undefined = redis ? new RedisRateLimiter(redis, deps.redisKeyPrefix ?? 'berth:', log) : undefined;
  const metrics = new RegistryMetrics({ defaultMetrics: deps.defaultMetrics });
  metrics.watchMetadataCache(metadataCache);

  const tokens = new TokenService(config.secretKey, config.tokens);
  const registries = new RegistryRepository(db);
  const resolver = new RegistryResolver(registries, config.domain, deps.registryCacheTtlMs ?? 5000);
  const identities = new IdentityService(new IdentityRepository(db), new SecretBox(config.secretKey), new SecretHasher(config.secretKey), tokens);
  const authenticator = new RequestAuthenticator(tokens, identities);
  const blobs = new BlobRepository(db, metadataCache);
  const hashes = new UploadHashCache();
  const offload = new HashOffload(config.uploads.hashThreads);
  const sweeper = setInterval(() => hashes.sweep(), 5 * 60 * 1000);
  sweeper.unref();
  const uploads = new UploadService(
    new UploadRepository(db, uploadSessions, config.uploads.expirySeconds),
    blobs,
    new RepositoryRepository(db),
    store,
    hashes,
    offload,
    metrics,
    log,
  );
  const manifests = new ManifestService(new ManifestRepository(db, metadataCache), store, log);

  const router = new Router();
  router.add(/^\/v2\/?$/, {
    GET: { name: 'v2.ping', auth: { kind: 'authenticated' }, handle: async (ctx) => sendJson(ctx, 200, {}) },
    HEAD: { name: 'v2.ping', auth: { kind: 'authenticated' }, handle: async (ctx) => sendJson(ctx, 200, {}) },
  });
  new TokenController(tokens, identities).register(router);
  const listing = new ListingRepository(db);
  new ListingController(listing).register(router);
  new ReferrerController(new ReferrerRepository(db)).register(router);
  // Order matters: upload routes before the blob route (see Router).
  new UploadController(uploads).register(router);
  new BlobController(blobs, store, metrics, config.storage.driver === 'azure' ? config.storage.redirectMinBytes : 0).register(router);
  new ManifestController(manifests, new ByteBudget(deps.manifestParseBudgetBytes ?? MANIFEST_PARSE_BUDGET_BYTES)).register(router);
  new AcrController(new AcrService(new AcrRepository(db, metadataCache), listing, manifests)).register(router);

  const app: RegistryAppContext = { config, db, metadataCache, store, log, metrics, router, resolver };

  async function dispatch(ctx: RequestContext): Promise<void> {
    if (ctx.path === '/healthz') {
      ctx.routeName = 'healthz';
      sendJson(ctx, 200, { status: 'ok' });
      return;
    }
    if (ctx.path === '/metrics') {
      ctx.routeName = 'metrics';
      send(ctx, 200, { 'Content-Type': metrics.registry.contentType }, await metrics.registry.metrics());
      return;
    }
    const registry = await resolver.resolve(ctx.host);
    if (!registry) {
      throw new OciError('NAME_UNKNOWN', { message: `no registry is served at ${ctx.host}`, detail: { host: ctx.host } });
    }
    ctx.registry = registry;
    const match = router.match(ctx.method, ctx.path);
    if (match.kind === 'not-found') throw new OciError('UNSUPPORTED', { status: 404, message: 'no such endpoint' });
    if (match.kind === 'method-not-allowed') {
      throw new OciError('UNSUPPORTED', { message: `method ${ctx.method} not allowed here`, headers: { Allow: match.allowed.join(', ') } });
    }
    const { handler, params } = match;
    ctx.params = params;
    ctx.routeName = handler.name;
    if (params.name !== undefined && !isValidRepositoryName(params.name, ctx.host)) {
      throw new OciError('NAME_INVALID', { message: 'invalid repository name', detail: { name: params.name } });
    }
    if (handler.auth.kind !== 'public') {
      ctx.grant = await authenticator.authenticate(ctx);
      authenticator.authorize(ctx, ctx.grant, handler.auth.kind === 'scope' ? handler.auth.scope(ctx) : undefined);
    }
    if (handler.rate && rateLimiter) {
      const limit = handler.rate === 'read' ? registry.sku.readOpsPerMinute : registry.sku.writeOpsPerMinute;
      const decision = await rateLimiter.consume(registry.id, handler.rate, limit);
      if (!decision.allowed) {
        throw new OciError('TOOMANYREQUESTS', {
          message: `too many requests: the ${registry.sku.name} SKU allows ${limit} ${handler.rate} operations per minute`,
          headers: { 'Retry-After': String(decision.retryAfterSeconds) },
        });
      }
    }
    await handler.handle(ctx);
  }

  function fail(ctx: RequestContext, error: unknown): void {
    if (error instanceof OciError) {
      sendError(ctx, error);
      return;
    }
    if (error instanceof StorageError && error.code === 'Unavailable') {
      ctx.log.error({ reqId: ctx.requestId, err: error }, 'storage unavailable');
      sendError(ctx, new OciError('UNAVAILABLE', { message: 'storage is unavailable, retry later', detail: { requestId: ctx.requestId } }));
      return;
    }
    ctx.log.error({ reqId: ctx.requestId, route: ctx.routeName, err: error }, 'unexpected error');
    sendError(ctx, new OciError('UNKNOWN', { message: `internal error (request id ${ctx.requestId})`, detail: { requestId: ctx.requestId } }));
  }

  function onRequest(req: http.IncomingMessage, res: http.ServerResponse, expectsContinue: boolean): void {
    const started = process.hrtime.bigint();
    const incomingId = req.headers['x-request-id'];
    const requestId = typeof incomingId === 'string' && REQUEST_ID_PATTERN.test(incomingId) ? incomingId : randomUUID();
    res.setHeader('X-Request-Id', requestId);
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    const url = req.url ?? '/';
    const question = url.indexOf('?');
    const path = question === -1 ? url : url.slice(0, question);
    const rawQuery = question === -1 ? '' : url.slice(question + 1);

    const { host, scheme } = trustedProxies.originOf(req, Boolean(config.tls));
    const ctx = new RequestContext(req, res, requestId, log, path, rawQuery, host, scheme);
    ctx.continuePending = expectsContinue;
    res.once('close', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.observe(ctx.routeName, ctx.method, res.statusCode, seconds);
      if (log.isLevelEnabled('debug')) {
        log.debug({ reqId: requestId, method: ctx.method, path, route: ctx.routeName, status: res.statusCode, ms: Math.round(seconds * 1000) }, 'request');
      }
    });
    dispatch(ctx).catch((error: unknown) => fail(ctx, error));
  }

  const listener = (req: http.IncomingMessage, res: http.ServerResponse) => onRequest(req, res, false);
  const server: http.Server = config.tls
    ? https.createServer({ cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) }, listener)
    : http.createServer(listener);
  // Answer `Expect: 100-continue` only when a handler reads the body, so an
  // upload refused up front (auth, quota, lock) never sends its bytes.
  server.on('checkContinue', (req, res) => onRequest(req, res, true));
  server.keepAliveTimeout = 65_000;
  // No whole-request deadline: a multi-gigabyte layer may take longer than
  // Node's default 5 minutes to arrive. A socket idle that long is dropped.
  server.requestTimeout = 0;
  server.timeout = 5 * 60_000;

  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      clearInterval(sweeper);
      await new Promise<void>((resolve) => {
        if (!server.listening) return resolve();
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 1000).unref();
      });
      await rateLimiter?.close(); // its last counts reach Redis before the connection goes
      if (ownsRedis && redis) redis.disconnect();
      await changes?.stop();
      await offload.close();
      await uploadSessions.close();
      await db.close();
    })());

  // Last, so a failure above (e.g. an unreadable TLS key) leaves no connection open.
  await changes?.start();
  await Promise.all([db.warm(), uploadSessions.warm()]).catch((error: unknown) => log.warn({ err: error }, 'could not open the database connections ahead of requests'));
  return { server, app, close };
}
