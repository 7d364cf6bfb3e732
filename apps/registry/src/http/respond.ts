import { OciError } from '@berth/oci';
import type { RequestContext } from './request-context';

export type Headers = Record<string, string | number>;

/** Sends a complete response; HEAD requests get the headers (Content-Length included) and no body. */
export function send(ctx: RequestContext, status: number, headers: Headers = {}, body?: Buffer | string): void {
  const res = ctx.res;
  const payload = body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body) : body;
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  // RFC 9110: no Content-Length on 204.
  if (status !== 204 && !res.hasHeader('content-length')) res.setHeader('Content-Length', payload?.length ?? 0);
  if (payload && ctx.method !== 'HEAD') res.end(payload);
  else res.end();
}

export function sendJson(ctx: RequestContext, status: number, value: unknown, headers: Headers = {}): void {
  send(ctx, status, { 'Content-Type': 'application/json', ...headers }, JSON.stringify(value));
}

/** Unread request bodies up to this size are drained (keeping the connection); bigger ones close it. */
const MAX_DRAIN_BYTES = 1024 * 1024;

/**
 * Writes an OCI error body. When the request body was not consumed (e.g. an
 * upload refused up front), a small body is drained by Node after the
 * response; a large or unbounded one closes the connection instead of
 * reading gigabytes only to discard them.
 */
export function sendError(ctx: RequestContext, error: OciError): void {
  const res = ctx.res;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (!ctx.req.complete && ctx.hasBody()) {
    const declared = Number(ctx.header('content-length') ?? Number.NaN);
    if (!(declared <= MAX_DRAIN_BYTES) || ctx.continuePending) res.setHeader('Connection', 'close');
  }
  send(ctx, error.status, { 'Content-Type': 'application/json', ...error.headers }, JSON.stringify(error));
}
