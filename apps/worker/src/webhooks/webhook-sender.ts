import * as http from 'node:http';
import * as https from 'node:https';
import type { LookupFunction } from 'node:net';

export interface WebhookRequest {
  url: URL;
  /** The address the target policy approved; the request connects to it and nowhere else. */
  address: string;
  family: 4 | 6;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  /** Response bodies are read up to this many bytes, the rest is discarded. */
  maxResponseBytes: number;
}

export type WebhookResponse =
  | {
      ok: true;
      status: number;
      reason: string;
      headers: Record<string, string | string[]>;
      body: string;
      durationMs: number;
    }
  | { ok: false; error: string; durationMs: number };

/**
 * One POST, no redirects followed (a redirect is an answer like any other),
 * a deadline for the whole exchange, and a bounded response body.
 */
export function sendWebhook(request: WebhookRequest): Promise<WebhookResponse> {
  const started = Date.now();
  const elapsed = () => Date.now() - started;
  // Pinned resolution: the host name still drives Host, SNI and certificate checks.
  const lookup: LookupFunction = (_hostname, options, callback) => {
    if ((options as { all?: boolean }).all) {
      (callback as unknown as (err: null, addresses: Array<{ address: string; family: number }>) => void)(null, [
        { address: request.address, family: request.family },
      ]);
    } else {
      callback(null, request.address, request.family);
    }
  };
  const transport = request.url.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: WebhookResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      resolve(result);
    };
    const req = transport.request(
      request.url,
      {
        method: 'POST',
        headers: { ...request.headers, 'Content-Length': String(Buffer.byteLength(request.body)) },
        lookup,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        const done = () =>
          finish({
            ok: true,
            status: res.statusCode ?? 0,
            reason: res.statusMessage ?? '',
            headers: flattenHeaders(res.headers),
            body: Buffer.concat(chunks).toString('utf8'),
            durationMs: elapsed(),
          });
        res.on('data', (chunk: Buffer) => {
          if (kept >= request.maxResponseBytes) return;
          const part = chunk.subarray(0, request.maxResponseBytes - kept);
          chunks.push(part);
          kept += part.length;
          // Enough for the record: stop reading a large answer instead of draining it.
          if (kept >= request.maxResponseBytes) {
            done();
            res.destroy();
          }
        });
        res.on('end', done);
        res.on('error', done);
      },
    );
    const deadline = setTimeout(() => {
      req.destroy(new Error(`no answer within ${request.timeoutMs} ms`));
    }, request.timeoutMs);
    req.on('error', (error: NodeJS.ErrnoException) => {
      finish({ ok: false, error: error.code ? `${error.code}: ${error.message}` : error.message, durationMs: elapsed() });
    });
    req.end(request.body);
  });
}

function flattenHeaders(headers: http.IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name] = value;
  }
  return out;
}
