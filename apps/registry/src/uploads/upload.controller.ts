import { isValidRepositoryName, OciError, parseDigest, type ParsedDigest } from '@berth/oci';
import { decide } from '../auth/grant';
import type { RequestContext } from '../http/request-context';
import { send } from '../http/respond';
import type { Router } from '../http/router';
import { repositoryScope } from '../http/scopes';
import { sessionHeaders, type UploadChunk, type UploadService } from './upload.service';

function blobCreatedHeaders(repositoryName: string, digest: string): Record<string, string> {
  return { Location: `/v2/${repositoryName}/blobs/${digest}`, 'Docker-Content-Digest': digest };
}

function requireDigest(value: string | null): ParsedDigest {
  const digest = value === null ? undefined : parseDigest(value);
  if (!digest) throw new OciError('DIGEST_INVALID', { message: 'digest parameter missing or not a valid sha256/sha512 digest', detail: { digest: value } });
  return digest;
}

/** `Content-Range: <start>-<end>` (Docker also sends `bytes=` / `bytes `). */
function parseContentRange(value: string): { start: number; end: number } | undefined {
  const match = /^(?:bytes[ =])?(\d+)-(\d+)$/.exec(value.trim());
  if (!match) return undefined;
  const start = Number(match[1]);
  const end = Number(match[2]);
  return Number.isSafeInteger(start) && Number.isSafeInteger(end) && end >= start ? { start, end } : undefined;
}

/** Blob upload endpoints (OCI end-4a/4b/5/6/11/13 and cancel). */
export class UploadController {
  constructor(private readonly uploads: UploadService) {}

  register(router: Router): void {
    const push = repositoryScope('push');
    router.add(/^\/v2\/(?<name>.+)\/blobs\/uploads\/?$/, {
      POST: { name: 'upload.start', auth: push, rate: 'write', handle: (ctx) => this.start(ctx) },
    });
    router.add(/^\/v2\/(?<name>.+)\/blobs\/uploads\/(?<uuid>[^/]+)$/, {
      GET: { name: 'upload.status', auth: push, rate: 'read', handle: (ctx) => this.status(ctx) },
      PATCH: { name: 'upload.patch', auth: push, rate: 'write', handle: (ctx) => this.patch(ctx) },
      PUT: { name: 'upload.complete', auth: push, rate: 'write', handle: (ctx) => this.complete(ctx) },
      DELETE: { name: 'upload.cancel', auth: push, rate: 'write', handle: (ctx) => this.cancel(ctx) },
    });
  }

  private async start(ctx: RequestContext): Promise<void> {
    const name = ctx.params.name!;
    const mount = ctx.query.get('mount');
    if (mount !== null) {
      const mounted = await this.tryMount(ctx, name, mount, ctx.query.get('from'));
      if (mounted) {
        send(ctx, 201, blobCreatedHeaders(name, mounted));
        return;
      }
    }
    const digestParam = ctx.query.get('digest');
    if (digestParam !== null && mount === null) {
      const digest = requireDigest(digestParam);
      await this.uploads.uploadWhole(ctx.registry, name, digest, () => ctx.body(), ctx.contentLength());
      send(ctx, 201, blobCreatedHeaders(name, digest.digest));
      return;
    }
    const session = await this.uploads.start(ctx.registry, name);
    send(ctx, 202, sessionHeaders(session));
  }

  /**
   * 201 only when the caller may pull from `from` and the blob is linked
   * there; anything else falls back to a normal upload session (202), as the
   * spec allows.
   */
  private async tryMount(ctx: RequestContext, name: string, mountParam: string, from: string | null): Promise<string | undefined> {
    const digest = parseDigest(mountParam);
    if (!digest || from === null || !isValidRepositoryName(from, ctx.host) || from === name) return undefined;
    if (decide(ctx.grant, { type: 'repository', name: from, actions: ['pull'] }) !== 'allowed') return undefined;
    return (await this.uploads.mount(ctx.registry, name, from, digest.digest)) ? digest.digest : undefined;
  }

  private async status(ctx: RequestContext): Promise<void> {
    const session = await this.uploads.status(ctx.registry, ctx.params.name!, ctx.params.uuid!);
    send(ctx, 204, sessionHeaders(session));
  }

  private async patch(ctx: RequestContext): Promise<void> {
    const session = await this.uploads.patch(ctx.registry, ctx.params.name!, ctx.params.uuid!, chunkOf(ctx, true));
    send(ctx, 202, sessionHeaders(session));
  }

  private async complete(ctx: RequestContext): Promise<void> {
    const digest = requireDigest(ctx.query.get('digest'));
    const name = ctx.params.name!;
    await this.uploads.complete(ctx.registry, name, ctx.params.uuid!, digest, chunkOf(ctx, false));
    send(ctx, 201, blobCreatedHeaders(name, digest.digest));
  }

  private async cancel(ctx: RequestContext): Promise<void> {
    await this.uploads.cancel(ctx.registry, ctx.params.name!, ctx.params.uuid!);
    send(ctx, 204);
  }
}

/**
 * The request's chunk. A PATCH always has one (Content-Range is checked even
 * when the body is empty); a PUT only when it carries a body.
 */
function chunkOf(ctx: RequestContext, always: boolean): UploadChunk | undefined {
  if (!always && !ctx.hasBody()) return undefined;
  const rangeHeader = ctx.header('content-range');
  return {
    body: () => ctx.body(),
    contentLength: ctx.contentLength(),
    range: rangeHeader === undefined ? undefined : (parseContentRange(rangeHeader) ?? 'invalid'),
  };
}
