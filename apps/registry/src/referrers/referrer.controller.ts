import { MediaType, OciError, parseDigest } from '@berth/oci';
import type { RequestContext } from '../http/request-context';
import { sendJson } from '../http/respond';
import type { Router } from '../http/router';
import { repositoryScope } from '../http/scopes';
import type { ReferrerRepository } from './referrer.repository';

/**
 * Referrers API (OCI end-12): always an image index, empty when nothing
 * refers to the digest (never 404), filtered by `artifactType` on request.
 */
export class ReferrerController {
  constructor(private readonly referrers: ReferrerRepository) {}

  register(router: Router): void {
    router.add(/^\/v2\/(?<name>.+)\/referrers\/(?<digest>[^/]+)$/, {
      GET: { name: 'referrers.list', auth: repositoryScope('pull'), rate: 'read', handle: (ctx) => this.list(ctx) },
    });
  }

  private async list(ctx: RequestContext): Promise<void> {
    const raw = ctx.decodedParam('digest') ?? '';
    const digest = parseDigest(raw);
    if (!digest) throw new OciError('DIGEST_INVALID', { message: 'invalid digest', detail: { digest: raw } });
    const artifactType = ctx.query.get('artifactType') ?? undefined;
    const referrers = await this.referrers.findReferrers(ctx.registry.id, ctx.params.name!, digest.digest, artifactType || undefined);
    const manifests = referrers.map((referrer) => {
      const descriptor: Record<string, unknown> = { mediaType: referrer.mediaType, digest: referrer.digest, size: referrer.size };
      if (referrer.artifactType) descriptor.artifactType = referrer.artifactType;
      if (referrer.annotations && Object.keys(referrer.annotations).length > 0) descriptor.annotations = referrer.annotations;
      return descriptor;
    });
    const headers: Record<string, string> = { 'Content-Type': MediaType.OciIndex };
    if (artifactType) headers['OCI-Filters-Applied'] = 'artifactType';
    sendJson(ctx, 200, { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }, headers);
  }
}
