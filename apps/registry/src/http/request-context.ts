import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { OciError } from '@berth/oci';
import type { Logger } from '../observability/logger';
import type { RegistryInfo } from '../registries/registry-info';
import type { Grant } from '../auth/grant';

/**
 * Everything one request carries through the handlers. Built once per
 * request; the registry and grant are filled in by the server before the
 * route handler runs (for routes that need them).
 */
export class RequestContext {
  params: Record<string, string> = {};
  routeName = 'unmatched';
  private queryCache: URLSearchParams | undefined;
  private registryValue: RegistryInfo | undefined;
  private grantValue: Grant | undefined;
  /** Set when the client sent `Expect: 100-continue`; the body is invited only when a handler reads it. */
  continuePending = false;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly requestId: string,
    readonly log: Logger,
    /** Path without the query string, as sent (not decoded). */
    readonly path: string,
    private readonly rawQuery: string,
    /** The Host header as sent (lower-case, port kept): login server plus optional port. */
    readonly host: string,
    /** `https` or `http`, as the client reached us (trusted proxies may say so). */
    readonly scheme: string,
  ) {}

  get method(): string {
    return this.req.method ?? 'GET';
  }

  get query(): URLSearchParams {
    return (this.queryCache ??= new URLSearchParams(this.rawQuery));
  }

  get registry(): RegistryInfo {
    if (!this.registryValue) throw new Error('registry not resolved for this route');
    return this.registryValue;
  }

  set registry(value: RegistryInfo) {
    this.registryValue = value;
  }

  get hasRegistry(): boolean {
    return this.registryValue !== undefined;
  }

  get grant(): Grant {
    if (!this.grantValue) throw new Error('request not authenticated for this route');
    return this.grantValue;
  }

  set grant(value: Grant) {
    this.grantValue = value;
  }

  header(name: string): string | undefined {
    const value = this.req.headers[name];
    return Array.isArray(value) ? value[0] : value;
  }

  /** A path parameter, percent-decoded (digests may arrive as `sha256%3A…`); undefined when malformed. */
  decodedParam(name: string): string | undefined {
    const raw = this.params[name];
    if (raw === undefined) return undefined;
    try {
      return decodeURIComponent(raw);
    } catch {
      return undefined;
    }
  }

  /** Content-Length as a number; undefined when absent; throws on a malformed value. */
  contentLength(): number | undefined {
    const raw = this.header('content-length');
    if (raw === undefined) return undefined;
    if (!/^\d+$/.test(raw)) throw new OciError('SIZE_INVALID', { message: 'malformed Content-Length' });
    return Number(raw);
  }

  /** Whether the request carries a body (Content-Length > 0 or chunked). */
  hasBody(): boolean {
    const length = this.header('content-length');
    if (length !== undefined) return length !== '0';
    return this.header('transfer-encoding') !== undefined;
  }

  /** The request body stream; sends `100 Continue` first when the client is waiting for it. */
  body(): Readable {
    if (this.continuePending) {
      this.continuePending = false;
      this.res.writeContinue();
    }
    return this.req;
  }

  /** Reads a small body whole (manifests, forms), refusing more than `limit` bytes. */
  async readBody(limit: number, tooLarge: () => OciError): Promise<Buffer> {
    const declared = this.contentLength();
    if (declared !== undefined && declared > limit) throw tooLarge();
    const chunks: Buffer[] = [];
    let total = 0;
    // destroyOnReturn: false keeps the connection alive when we stop reading
    // early, so the client still receives the error response.
    for await (const chunk of this.body().iterator({ destroyOnReturn: false })) {
      const buffer = chunk as Buffer;
      total += buffer.length;
      if (total > limit) throw tooLarge();
      chunks.push(buffer);
    }
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
  }
}
