import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { BlobContent } from './blob-content';
import { downloadVerified } from './verified-download';

/** One registry under test, as the client sees it. */
export interface Target {
  label: 'Berth' | 'Distribution';
  /** Loopback port of the data plane. */
  port: number;
  /** Host header (and token service) of the registry. */
  host: string;
  credentials: { username: string; password: string } | undefined;
  /** The data-plane process whose memory is sampled. */
  pid: number;
  /** How clients authenticate, for the report. */
  authDescription: string;
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A request body: bytes, or a writer (called again when a request is retried). */
export type Body = Buffer | ((req: http.ClientRequest) => Promise<void>);

interface RawOptions {
  headers?: http.OutgoingHttpHeaders;
  body?: Body;
  host?: string;
  /** Receives the response body instead of buffering it. */
  onData?: (chunk: Buffer) => void;
}

const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

export function pushScope(repository: string): string {
  return `repository:${repository}:pull,push`;
}

/** A reused keep-alive connection the server had already closed (see RegistryClient.raw). */
class StaleConnection extends Error {
  constructor(readonly original: Error) {
    super(`reused connection closed by the server: ${original.message}`);
  }
}

/** Resolves on 'drain', or when the request is torn down (so a writer never hangs on a dead socket). */
function drained(req: http.ClientRequest): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      req.off('drain', done);
      req.off('close', done);
      resolve();
    };
    req.on('drain', done);
    req.on('close', done);
  });
}

/** Streams [start, end) of a blob into a request with backpressure. */
export function contentBody(content: BlobContent, start = 0, end = content.size): Body {
  return async (req) => {
    for (const chunk of content.chunks(start, end)) {
      if (req.destroyed) return;
      if (!req.write(chunk)) await drained(req);
    }
    req.end();
  };
}

/**
 * A registry client speaking HTTP/1.1 over keep-alive connections to
 * 127.0.0.1 with the registry's Host header (so no name resolution is
 * needed), doing the Docker token flow when the registry asks for it:
 * `GET /v2/` → 401 + Bearer challenge → `GET <realm>?service&scope` with
 * Basic credentials → access token, cached per scope and fetched again
 * shortly before it expires (or when a request is answered 401).
 */
export class RegistryClient {
  readonly agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  private challenge: { realm: URL; service: string } | null | undefined;
  private readonly tokens = new Map<string, { header: string; refreshAt: number }>();
  private readonly pending = new Map<string, Promise<string>>();
  tokenFetches = 0;
  /** Requests sent again after a reused connection turned out closed (see `raw`). */
  staleConnectionRetries = 0;

  constructor(readonly target: Target) {}

  close(): void {
    this.agent.destroy();
  }

  /**
   * One request, no auth handling. Sent once more on a fresh connection when
   * a reused keep-alive connection turns out to have been closed by the
   * server before any answer came (the race Node's documentation describes
   * for `request.reusedSocket`: the server's idle timeout and the reuse can
   * cross, most easily while the bench's event loop was busy hashing).
   */
  async raw(method: string, path: string, options: RawOptions = {}): Promise<Reply> {
    try {
      return await this.rawOnce(method, path, options);
    } catch (error) {
      if (!(error instanceof StaleConnection)) throw error;
      this.staleConnectionRetries += 1;
      return this.rawOnce(method, path, options, false);
    }
  }

  private rawOnce(method: string, path: string, options: RawOptions, mayBeStale = true): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = { host: options.host ?? this.target.host, ...options.headers };
      if (Buffer.isBuffer(options.body)) headers['content-length'] = options.body.length;
      let answered = false;
      const req = http.request({ host: '127.0.0.1', port: this.target.port, method, path, headers, agent: this.agent }, (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => (options.onData ? options.onData(chunk) : chunks.push(chunk)));
        res.once('error', reject);
        res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.once('error', (error: NodeJS.ErrnoException) => {
        const closedUnderUs = error.code === 'ECONNRESET' || error.code === 'EPIPE' || error.message === 'socket hang up';
        reject(mayBeStale && !answered && req.reusedSocket && closedUnderUs ? new StaleConnection(error) : error);
      });
      const body = options.body;
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else body(req).catch((error: unknown) => req.destroy(error instanceof Error ? error : new Error(String(error))));
    });
  }

  /** A request carrying a token for `scope` (when the registry wants one); retried once on 401. */
  async request(method: string, path: string, scope: string | undefined, options: RawOptions = {}): Promise<Reply> {
    return this.withToken(scope, (authorization) =>
      this.raw(method, path, { ...options, headers: { ...options.headers, ...(authorization ? { authorization } : {}) } }),
    );
  }

  /** Sends with the token for `scope` (if the registry wants one); on 401, once more with a fresh token. */
  private async withToken<R extends { status: number }>(scope: string | undefined, send: (authorization: string | undefined) => Promise<R>): Promise<R> {
    for (let attempt = 0; ; attempt += 1) {
      const reply = await send(await this.authorization(scope));
      if (reply.status !== 401 || attempt > 0 || !this.challenge) return reply;
      if (scope) this.tokens.delete(scope);
    }
  }

  /** The Authorization header for `scope`, or undefined for a registry without auth. */
  async authorization(scope: string | undefined): Promise<string | undefined> {
    if (this.challenge === undefined) await this.discover();
    if (!this.challenge) return undefined;
    const key = scope ?? '';
    const cached = this.tokens.get(key);
    if (cached && Date.now() < cached.refreshAt) return cached.header;
    let pending = this.pending.get(key);
    if (!pending) {
      pending = this.fetchToken(scope).finally(() => this.pending.delete(key));
      this.pending.set(key, pending);
    }
    return pending;
  }

  private async discover(): Promise<void> {
    const reply = await this.raw('GET', '/v2/');
    if (reply.status === 200) {
      this.challenge = null;
      return;
    }
    const header = reply.headers['www-authenticate'];
    const value = Array.isArray(header) ? header[0] : header;
    if (reply.status !== 401 || !value || !/^Bearer\s/i.test(value)) {
      throw new Error(`${this.target.label}: GET /v2/ answered ${reply.status} without a Bearer challenge`);
    }
    const params = new Map<string, string>();
    for (const match of value.slice(7).matchAll(/(\w+)="([^"]*)"/g)) params.set(match[1]!, match[2]!);
    const realm = params.get('realm');
    if (!realm) throw new Error(`${this.target.label}: Bearer challenge without a realm: ${value}`);
    this.challenge = { realm: new URL(realm), service: params.get('service') ?? this.target.host };
  }

  private async fetchToken(scope: string | undefined): Promise<string> {
    const { realm, service } = this.challenge!;
    const credentials = this.target.credentials;
    if (!credentials) throw new Error(`${this.target.label} wants a token but the bench has no credentials for it`);
    const query = new URLSearchParams({ service });
    if (scope) query.append('scope', scope);
    const basic = Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64');
    const reply = await this.raw('GET', `${realm.pathname}?${query}`, { host: realm.host, headers: { authorization: `Basic ${basic}` } });
    if (reply.status !== 200) throw new Error(`${this.target.label}: token request answered ${reply.status}: ${reply.body.toString().slice(0, 300)}`);
    const json = JSON.parse(reply.body.toString('utf8')) as { token?: string; access_token?: string; expires_in?: number };
    const token = json.access_token ?? json.token;
    if (!token) throw new Error(`${this.target.label}: token response without a token`);
    const lifetimeMs = (json.expires_in ?? 60) * 1000;
    this.tokenFetches += 1;
    const header = `Bearer ${token}`;
    // Fetched again a little before expiry, as Docker does, so no request carries a stale token.
    this.tokens.set(scope ?? '', { header, refreshAt: Date.now() + lifetimeMs - Math.min(30_000, lifetimeMs / 4) });
    return header;
  }

  // ---- registry operations ----

  /** `POST /blobs/uploads/` → the session's Location (path and query). */
  async startUpload(repository: string): Promise<string> {
    const reply = await this.request('POST', `/v2/${repository}/blobs/uploads/`, pushScope(repository), { headers: { 'content-length': 0 } });
    return this.location(reply, 202, 'start upload');
  }

  /** Monolithic push: POST, then PUT `?digest` with the whole body. */
  async pushMonolithic(repository: string, content: BlobContent): Promise<void> {
    const location = await this.startUpload(repository);
    const reply = await this.request('PUT', withDigest(location, content.digest()), pushScope(repository), {
      headers: { 'content-type': 'application/octet-stream', 'content-length': content.size },
      body: contentBody(content),
    });
    expectStatus(reply, 201, `${this.target.label} monolithic PUT`);
  }

  /** Chunked push: POST, PATCHes of `chunkSize` with Content-Range, then an empty PUT `?digest`. */
  async pushChunked(repository: string, content: BlobContent, chunkSize: number): Promise<void> {
    let location = await this.startUpload(repository);
    for (let start = 0; start < content.size; start += chunkSize) {
      const end = Math.min(start + chunkSize, content.size);
      location = await this.patchUpload(location, repository, start, end - start, contentBody(content, start, end));
    }
    await this.finishUpload(location, repository, content.digest());
  }

  /** One PATCH of `length` bytes at `start`; returns the next Location. */
  async patchUpload(location: string, repository: string, start: number, length: number, body: Body): Promise<string> {
    const reply = await this.request('PATCH', location, pushScope(repository), {
      headers: { 'content-type': 'application/octet-stream', 'content-length': length, 'content-range': `${start}-${start + length - 1}` },
      body,
    });
    return this.location(reply, 202, `PATCH ${start}-${start + length - 1}`);
  }

  /** The empty PUT `?digest` that completes an upload. */
  async finishUpload(location: string, repository: string, digest: string): Promise<void> {
    const reply = await this.request('PUT', withDigest(location, digest), pushScope(repository), { headers: { 'content-length': 0 } });
    expectStatus(reply, 201, `${this.target.label} PUT ${digest}`);
  }

  /** Small blobs (configs, fixture layers) in one POST+PUT. */
  async pushBytes(repository: string, bytes: Buffer): Promise<string> {
    const digest = sha256(bytes);
    const location = await this.startUpload(repository);
    const reply = await this.request('PUT', withDigest(location, digest), pushScope(repository), {
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    expectStatus(reply, 201, `${this.target.label} PUT blob`);
    return digest;
  }

  /**
   * Pulls a blob, hashing it as it streams (bench/verified-download.ts: its
   * own connection, one reused read buffer); throws unless the status is 200
   * and the digest and size match. Retried once on 401, as `request` does.
   * Returns the byte count.
   */
  async pullVerified(repository: string, digest: string, size: number): Promise<number> {
    const reply = await this.withToken(`repository:${repository}:pull`, (authorization) =>
      downloadVerified(this.target.port, `/v2/${repository}/blobs/${digest}`, {
        Host: this.target.host,
        ...(authorization ? { Authorization: authorization } : {}),
      }),
    );
    if (reply.status !== 200) {
      throw new Error(`${this.target.label} GET blob: expected 200, got ${reply.status}: ${reply.errorBody?.toString('utf8').slice(0, 300) ?? ''}`);
    }
    if (reply.digest !== digest || reply.bytes !== size) {
      throw new Error(`${this.target.label}: pulled ${reply.bytes} bytes with digest ${reply.digest}, expected ${size} bytes ${digest}`);
    }
    return reply.bytes;
  }

  async putManifest(repository: string, reference: string, manifest: Buffer, mediaType: string): Promise<void> {
    const reply = await this.request('PUT', `/v2/${repository}/manifests/${reference}`, pushScope(repository), {
      headers: { 'content-type': mediaType },
      body: manifest,
    });
    expectStatus(reply, 201, `${this.target.label} PUT manifest ${repository}:${reference}`);
  }

  /** One tag-list page; `next` is the path of the following page from the Link header. */
  async listTags(path: string, repository: string): Promise<{ tags: string[]; next: string | undefined }> {
    const reply = await this.request('GET', path, `repository:${repository}:pull`);
    expectStatus(reply, 200, `${this.target.label} GET ${path}`);
    const tags = (JSON.parse(reply.body.toString('utf8')) as { tags: string[] | null }).tags ?? [];
    const link = reply.headers.link;
    const match = typeof link === 'string' ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(link) : null;
    if (!match) return { tags, next: undefined };
    const url = new URL(match[1]!, 'http://registry.invalid');
    return { tags, next: url.pathname + url.search };
  }

  manifestAccept(): string {
    return MANIFEST_ACCEPT;
  }

  private location(reply: Reply, expected: number, what: string): string {
    expectStatus(reply, expected, `${this.target.label} ${what}`);
    const location = reply.headers.location;
    if (!location) throw new Error(`${this.target.label} ${what}: no Location header`);
    const url = new URL(location, 'http://registry.invalid');
    return url.pathname + url.search;
  }
}

export function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Adds `digest=` to an upload Location, keeping its own query (Distribution's `_state`). */
function withDigest(location: string, digest: string): string {
  const url = new URL(location, 'http://registry.invalid');
  url.searchParams.set('digest', digest);
  return url.pathname + url.search;
}

export function expectStatus(reply: Reply, expected: number, what: string): void {
  if (reply.status !== expected) {
    throw new Error(`${what}: expected ${expected}, got ${reply.status}: ${reply.body.toString('utf8').slice(0, 500)}`);
  }
}
