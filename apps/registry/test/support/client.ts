import type { Readable } from 'node:stream';
import { sendHttpRequest, type TestResponse } from '@berth/testing';

export type { TestResponse } from '@berth/testing';

export type Auth = { bearer: string } | { basic: [string, string] } | undefined;

export interface RequestOptions {
  headers?: Record<string, string | number>;
  body?: Buffer | string | Readable;
  /** null = send no credential even when the client has a default one. */
  auth?: Auth | null;
  /** Overrides the Host header (default: the client's registry host). */
  host?: string;
}

/** A small HTTP client for the tests, with the registry's Host header and an optional default credential (see sendHttpRequest). */
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
    return sendHttpRequest(this.port, method, path, headers, options.body);
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
