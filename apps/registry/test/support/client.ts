import * as http from 'node:http';
import type { Readable } from 'node:stream';

export interface TestResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  header(name: string): string | undefined;
  text(): string;
  json<T = any>(): T;
}

export type Auth = { bearer: string } | { basic: [string, string] } | undefined;

export interface RequestOptions {
  headers?: Record<string, string | number>;
  body?: Buffer | string | Readable;
  /** null = send no credential even when the client has a default one. */
  auth?: Auth | null;
  /** Overrides the Host header (default: the client's registry host). */
  host?: string;
}

/**
 * A small HTTP client for the tests, over node:http rather than fetch: fetch
 * cannot set the Host header (which selects the registry) and normalises
 * paths such as `/v2/../x`, which the tests must send verbatim.
 */
export class RegistryClient {
  constructor(
    readonly port: number,
    readonly host: string,
    private readonly defaultAuth: Auth = undefined,
  ) {}

  /** The same client with a default credential. */
  as(auth: Auth): RegistryClient {
    return new RegistryClient(this.port, this.host, auth);
  }

  request(method: string, path: string, options: RequestOptions = {}): Promise<TestResponse> {
    const headers: Record<string, string | number> = { host: options.host ?? this.host, ...options.headers };
    const auth = options.auth === undefined ? this.defaultAuth : (options.auth ?? undefined);
    if (auth && 'bearer' in auth) headers.authorization = `Bearer ${auth.bearer}`;
    if (auth && 'basic' in auth) headers.authorization = `Basic ${Buffer.from(`${auth.basic[0]}:${auth.basic[1]}`).toString('base64')}`;
    const body = options.body;
    if ((typeof body === 'string' || Buffer.isBuffer(body)) && headers['content-length'] === undefined) {
      headers['content-length'] = Buffer.byteLength(body);
    }
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: this.port, method, path, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const bodyBuffer = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: bodyBuffer,
            header: (name) => {
              const value = res.headers[name.toLowerCase()];
              return Array.isArray(value) ? value.join(', ') : value;
            },
            text: () => bodyBuffer.toString('utf8'),
            json: () => JSON.parse(bodyBuffer.toString('utf8')),
          });
        });
      });
      req.on('error', reject);
      if (body === undefined) req.end();
      else if (typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
      else body.pipe(req);
    });
  }

  get(path: string, options?: RequestOptions) {
    return this.request('GET', path, options);
  }
  head(path: string, options?: RequestOptions) {
    return this.request('HEAD', path, options);
  }
  put(path: string, options?: RequestOptions) {
    return this.request('PUT', path, options);
  }
  post(path: string, options?: RequestOptions) {
    return this.request('POST', path, options);
  }
  patch(path: string, options?: RequestOptions) {
    return this.request('PATCH', path, options);
  }
  delete(path: string, options?: RequestOptions) {
    return this.request('DELETE', path, options);
  }

  /** `GET /oauth2/token` with Basic credentials (or none) for the given scopes. */
  async token(credentials: [string, string] | undefined, ...scopes: string[]): Promise<string> {
    const query = new URLSearchParams({ service: this.host });
    for (const scope of scopes) query.append('scope', scope);
    const res = await this.get(`/oauth2/token?${query}`, { auth: credentials ? { basic: credentials } : null });
    if (res.status !== 200) throw new Error(`token request failed: ${res.status} ${res.text()}`);
    return res.json().access_token;
  }
}

/** Reads the error code of an OCI error body. */
export function errorCode(res: TestResponse): string | undefined {
  try {
    return res.json().errors?.[0]?.code;
  } catch {
    return undefined;
  }
}
