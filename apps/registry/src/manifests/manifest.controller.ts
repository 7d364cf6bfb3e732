import type { EventRequestInfo } from '@berth/events';
import { OciError, parseManifestReference, type ManifestReference } from '@berth/oci';
import type { ByteBudget } from '../http/byte-budget';
import type { RequestContext } from '../http/request-context';
import { send } from '../http/respond';
import type { Router } from '../http/router';
import { repositoryScope } from '../http/scopes';
import type { ManifestService } from './manifest.service';

function referenceParam(ctx: RequestContext): ManifestReference {
  const raw = ctx.decodedParam('reference') ?? '';
  const reference = parseManifestReference(raw);
  if (!reference) {
    throw raw.includes(':')
      ? new OciError('DIGEST_INVALID', { message: 'invalid digest reference', detail: { reference: raw } })
      : new OciError('TAG_INVALID', { message: 'invalid tag', detail: { reference: raw } });
  }
  return reference;
}

export function eventRequest(ctx: RequestContext): EventRequestInfo {
  return { id: ctx.requestId, host: ctx.host, method: ctx.method, useragent: ctx.header('user-agent') ?? '' };
}

/**
 * Manifest endpoints (OCI end-3, end-7, end-9). Content negotiation: the
 * stored manifest is served in its own media type whatever the Accept list
 * says (no conversion exists for OCI/schema 2 content, and clients check the
 * Content-Type they get), rather than answering 404 as Distribution does for
 * indexes a client did not list.
 */
export class ManifestController {
  constructor(
    private readonly manifests: ManifestService,
    /** Bounds the manifest bytes parsed and validated at once (their heap cost); see ByteBudget. */
    private readonly parseBudget: ByteBudget,
  ) {}

  register(router: Router): void {
    router.add(/^\/v2\/(?<name>.+)\/manifests\/(?<reference>[^/]+)$/, {
      GET: { name: 'manifest.get', auth: repositoryScope('pull'), rate: 'read', handle: (ctx) => this.get(ctx) },
      HEAD: { name: 'manifest.head', auth: repositoryScope('pull'), rate: 'read', handle: (ctx) => this.get(ctx) },
      PUT: { name: 'manifest.put', auth: repositoryScope('push'), rate: 'write', handle: (ctx) => this.put(ctx) },
      DELETE: { name: 'manifest.delete', auth: repositoryScope('delete'), rate: 'write', handle: (ctx) => this.delete(ctx) },
    });
  }

  private async get(ctx: RequestContext): Promise<void> {
    const withPayload = ctx.method !== 'HEAD';
    const manifest = await this.manifests.get(ctx.registry, ctx.params.name!, referenceParam(ctx), withPayload);
    const headers = {
      'Content-Type': manifest.mediaType,
      'Docker-Content-Digest': manifest.digest,
      ETag: `"${manifest.digest}"`,
      'Content-Length': manifest.size,
    };
    send(ctx, 200, headers, manifest.payload ? Buffer.from(manifest.payload.buffer, manifest.payload.byteOffset, manifest.payload.byteLength) : undefined);
  }

  private async put(ctx: RequestContext): Promise<void> {
    const name = ctx.params.name!;
    const reference = referenceParam(ctx);
    const limit = ctx.registry.sku.maxManifestBytes;
    const payload = await ctx.readBody(
      limit,
      () => new OciError('MANIFEST_INVALID', { status: 413, message: `manifest is larger than the ${limit}-byte limit`, detail: { limitBytes: limit } }),
    );
    // The body is read first (a slow sender holds no budget), then parsed and stored within it.
    const pushed = await this.parseBudget.run(payload.length, () =>
      this.manifests.put(ctx.registry, name, reference, payload, ctx.header('content-type'), eventRequest(ctx)),
    );
    const headers: Record<string, string> = {
      Location: `/v2/${name}/manifests/${pushed.digest}`,
      'Docker-Content-Digest': pushed.digest,
    };
    if (pushed.subject) headers['OCI-Subject'] = pushed.subject;
    send(ctx, 201, headers);
  }

  private async delete(ctx: RequestContext): Promise<void> {
    await this.manifests.delete(ctx.registry, ctx.params.name!, referenceParam(ctx), eventRequest(ctx));
    send(ctx, 202);
  }
}
