import * as http from 'node:http';
import type { Readable } from 'node:stream';

/** A whole HTTP response, as the tests read it. */
export interface TestResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** A header by name (any case); repeated headers joined with ', '. */
  header(name: string): string | undefined;
  text(): string;
  /** Parsed body; `any` by default, as tests index into arbitrary JSON shapes. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json<T = any>(): T;
}

/**
 * Sends one request to 127.0.0.1:`port` over node:http, not fetch: fetch
 * cannot set the Host header (which selects the registry) and normalises
 * paths such as `/v2/../x`, which tests must be able to send verbatim. The
 * headers go as given (Content-Length is added for a string or Buffer body
 * when absent); a stream body is piped. Resolves with the whole response.
 */
export function sendHttpRequest(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string | number>,
  body?: Buffer | string | Readable,
): Promise<TestResponse> {
  if ((typeof body === 'string' || Buffer.isBuffer(body)) && headers['content-length'] === undefined) {
    headers = { ...headers, 'content-length': Buffer.byteLength(body) };
  }
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
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
