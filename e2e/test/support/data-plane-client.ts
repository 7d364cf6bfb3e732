import { createHash } from 'node:crypto';
import { sendHttpRequest, type TestResponse } from '@berth/testing';

export type DataPlaneResponse = TestResponse;

export interface DataPlaneRequest {
  headers?: Record<string, string>;
  body?: Buffer | string;
}

/**
 * Talks to the data plane as a registry client does, over node:http because
 * fetch cannot set the Host header, which names the registry (its login
 * server) while the socket goes to 127.0.0.1.
 */
export class DataPlaneClient {
  private bearer: string | undefined;

  constructor(
    readonly port: number,
    readonly host: string,
  ) {}

  request(method: string, path: string, options: DataPlaneRequest = {}): Promise<DataPlaneResponse> {
    const headers: Record<string, string | number> = { host: this.host, ...options.headers };
    if (this.bearer && headers.authorization === undefined) headers.authorization = `Bearer ${this.bearer}`;
    return sendHttpRequest(this.port, method, path, headers, options.body);
  }

  /**
   * The docker token flow: `GET /v2/` answers 401 with a Bearer challenge,
   * whose realm is asked for a token with Basic credentials and the scopes;
   * later requests carry that token. Throws when a step answers otherwise.
   */
  async login(username: string, password: string, scopes: string[]): Promise<void> {
    this.bearer = undefined;
    const challenge = await this.request('GET', '/v2/');
    if (challenge.status !== 401) throw new Error(`GET /v2/ without credentials answered ${challenge.status}, expected 401`);
    const { realm, service } = parseBearerChallenge(challenge.header('www-authenticate') ?? '');
    const realmUrl = new URL(realm);
    if (realmUrl.host !== this.host) throw new Error(`the token realm ${realm} is not on ${this.host}`);
    const query = new URLSearchParams({ service });
    for (const scope of scopes) query.append('scope', scope);
    const basic = Buffer.from(`${username}:${password}`).toString('base64');
    const tokenResponse = await this.request('GET', `${realmUrl.pathname}?${query}`, { headers: { authorization: `Basic ${basic}` } });
    if (tokenResponse.status !== 200) throw new Error(`token request answered ${tokenResponse.status}: ${tokenResponse.body.toString('utf8')}`);
    const token = tokenResponse.json<{ access_token?: string; token?: string }>();
    this.bearer = token.access_token ?? token.token;
    if (!this.bearer) throw new Error('the token response holds no token');
    const ping = await this.request('GET', '/v2/');
    if (ping.status !== 200) throw new Error(`GET /v2/ with the token answered ${ping.status}`);
  }

  /** A monolithic upload (POST, then PUT with the digest); returns the digest. */
  async uploadBlob(repository: string, bytes: Buffer): Promise<string> {
    const digest = sha256(bytes);
    const started = await this.request('POST', `/v2/${repository}/blobs/uploads/`);
    if (started.status !== 202) throw new Error(`upload start answered ${started.status}: ${started.body.toString('utf8')}`);
    const location = new URL(started.header('location')!, `http://${this.host}`);
    location.searchParams.set('digest', digest);
    const finished = await this.request('PUT', `${location.pathname}${location.search}`, {
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    if (finished.status !== 201) throw new Error(`upload finish answered ${finished.status}: ${finished.body.toString('utf8')}`);
    return digest;
  }
}

export function sha256(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function parseBearerChallenge(header: string): { realm: string; service: string } {
  if (!/^Bearer\s/i.test(header)) throw new Error(`not a Bearer challenge: ${header}`);
  const params: Record<string, string> = {};
  for (const match of header.matchAll(/(\w+)="([^"]*)"/g)) params[match[1]!] = match[2]!;
  if (!params.realm || !params.service) throw new Error(`challenge without realm or service: ${header}`);
  return { realm: params.realm, service: params.service };
}
