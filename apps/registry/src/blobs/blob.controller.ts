import { pipeline } from 'node:stream/promises';
import { OciError, parseDigest } from '@berth/oci';
import { StorageError, type BlobStore } from '@berth/storage';
import type { RequestContext } from '../http/request-context';
import { send } from '../http/respond';
import type { Router } from '../http/router';
import { repositoryScope } from '../http/scopes';
import { lockedError, readDisabled } from '../limits/limit-errors';
import type { RegistryMetrics } from '../observability/metrics';
import type { BlobRepository } from './blob.repository';

/** Parses a single `Range: bytes=a-b | a- | -n`; 'invalid' when unsatisfiable, undefined when absent or not a single byte range. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'invalid' | undefined {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return undefined; // multiple or foreign ranges: serve the whole blob (RFC 9110 allows ignoring Range)
  const [, first, last] = match;
  if (first === '' && last === '') return 'invalid';
  let start: number;
  let end: number;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0) return 'invalid';
    start = Math.max(size - suffix, 0);
    end = size - 1;
  } else {
    start = Number(first);
    end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
    if (last !== '' && Number(last) < start) return 'invalid';
  }
  if (start >= size || !Number.isSafeInteger(start) || !Number.isSafeInteger(end)) return 'invalid';
  return { start, end };
}

/** Blob reads and deletes (OCI end-2, end-10). */
export class BlobController {
  constructor(
    private readonly blobs: BlobRepository,
    private readonly store: BlobStore,
    private readonly metrics: RegistryMetrics,
    /** Answer GETs of blobs at least this big with a 307 to a signed URL (0 = never). */
    private readonly redirectMinBytes: number,
  ) {}

  register(router: Router): void {
    const pull = repositoryScope('pull');
    router.add(/^\/v2\/(?<name>.+)\/blobs\/(?<digest>[^/]+)$/, {
      GET: { name: 'blob.get', auth: pull, rate: 'read', handle: (ctx) => this.get(ctx) },
      HEAD: { name: 'blob.head', auth: pull, rate: 'read', handle: (ctx) => this.get(ctx) },
      DELETE: { name: 'blob.delete', auth: repositoryScope('delete'), rate: 'write', handle: (ctx) => this.delete(ctx) },
    });
  }

  private digestParam(ctx: RequestContext): string {
    const raw = ctx.decodedParam('digest') ?? '';
    const digest = parseDigest(raw);
    if (!digest) throw new OciError('DIGEST_INVALID', { message: 'invalid digest', detail: { digest: raw } });
    return digest.digest;
  }

  private async get(ctx: RequestContext): Promise<void> {
    const name = ctx.params.name!;
    const digest = this.digestParam(ctx);
    const blob = await this.blobs.findLinked(ctx.registry.id, name, digest);
    if (!blob) throw new OciError('BLOB_UNKNOWN', { detail: { digest } });
    if (!blob.repositoryReadEnabled) throw readDisabled(`repository ${name}`);
    // A client that finds the blob here may skip its upload and reference it
    // in a manifest later: give it a fresh grace period against GC. False
    // means GC deleted the row since the lookup.
    if (blob.stale && !(await this.blobs.touch(ctx.registry.id, blob.id))) throw new OciError('BLOB_UNKNOWN', { detail: { digest } });
    const headers: Record<string, string | number> = {
      'Docker-Content-Digest': digest,
      'Content-Type': 'application/octet-stream',
      'Accept-Ranges': 'bytes',
      ETag: `"${digest}"`,
      'Cache-Control': 'max-age=31536000',
    };
    const range = parseRange(ctx.header('range'), blob.size);
    if (range === 'invalid') {
      throw new OciError('RANGE_INVALID', { status: 416, message: 'requested range not satisfiable', headers: { 'Content-Range': `bytes */${blob.size}` } });
    }
    if (ctx.method === 'HEAD') {
      send(ctx, 200, { ...headers, 'Content-Length': blob.size });
      return;
    }
    if (!range && this.redirectMinBytes > 0 && blob.size >= this.redirectMinBytes && this.store.signedReadUrl) {
      const url = await this.store.signedReadUrl(blob.storageKey, 20 * 60);
      if (url) {
        send(ctx, 307, { Location: url, 'Docker-Content-Digest': digest });
        return;
      }
    }
    const length = range ? range.end - range.start + 1 : blob.size;
    const sendHeaders = () =>
      ctx.res.writeHead(range ? 206 : 200, {
        ...headers,
        'Content-Length': length,
        ...(range ? { 'Content-Range': `bytes ${range.start}-${range.end}/${blob.size}` } : {}),
      });
    // Bytes are counted as they leave storage, so a client that hangs up
    // right after reading (before 'finish') is still counted.
    let sent = 0;
    const count = (bytes: number) => {
      sent += bytes;
    };
    try {
      if (this.store.copyTo) {
        // Reused buffers: a large download allocates nothing per chunk.
        await this.store.copyTo(blob.storageKey, range, ctx.res, sendHeaders, count);
        ctx.res.end();
      } else {
        const stream = await this.store.read(blob.storageKey, range);
        sendHeaders();
        stream.on('data', (chunk: Buffer) => count(chunk.length));
        await pipeline(stream, ctx.res); // destroys both streams when either fails
      }
    } catch (error) {
      if (!ctx.res.headersSent) {
        if (error instanceof StorageError && error.code === 'NotFound') {
          ctx.log.error({ reqId: ctx.requestId, digest, key: blob.storageKey }, 'blob metadata exists but its bytes are missing');
          throw new OciError('BLOB_UNKNOWN', { detail: { digest } });
        }
        throw error;
      }
      // The client went away, or storage failed mid-stream: the status is already sent.
      ctx.log.debug({ reqId: ctx.requestId, err: error }, 'blob download interrupted');
      ctx.res.destroy();
    } finally {
      this.metrics.bytesPulled.inc(sent);
    }
  }

  private async delete(ctx: RequestContext): Promise<void> {
    const name = ctx.params.name!;
    const digest = this.digestParam(ctx);
    const result = await this.blobs.unlink(ctx.registry.id, name, digest);
    if (result === 'unknown') throw new OciError('BLOB_UNKNOWN', { detail: { digest } });
    if (result === 'locked') throw lockedError(`repository ${name}`, 'deleteEnabled');
    send(ctx, 202, { 'Docker-Content-Digest': digest });
  }
}
