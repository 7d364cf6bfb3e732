import { isValidTag, OciError, parseDigest } from '@berth/oci';
import type { RequestContext } from '../http/request-context';
import { send, sendJson } from '../http/respond';
import type { Router } from '../http/router';
import { catalogScope, repositoryScope } from '../http/scopes';
import { eventRequest } from '../manifests/manifest.controller';
import { parseAttributeChanges, type AttributeChanges } from './acr.dto';
import type { ListOrder, PageRequest } from './acr.repository';
import type { AcrService, Page } from './acr.service';

const DEFAULT_PAGE_SIZE = 100;
/** Largest page served; a bigger `n` gets this many plus a `Link` to the rest. */
const MAX_PAGE_SIZE = 1000;
const MAX_PATCH_BYTES = 64 * 1024;

/**
 * ACR's data-plane extension API (`/acr/v1`). Repository names contain `/`;
 * the `/_tags` and `/_manifests` markers split the name from the rest (a path
 * component of a valid name never starts with `_`). Reads need `pull`,
 * attribute changes `push` (ACR's metadata_write, held by AcrPush and Owner),
 * deletes `delete`, and the catalog `registry:catalog:*`: the same token
 * scopes as /v2, so a docker-flow token works here too.
 */
export class AcrController {
  constructor(private readonly acr: AcrService) {}

  register(router: Router): void {
    const read = repositoryScope('pull');
    const write = repositoryScope('push');
    const remove = repositoryScope('delete');
    router.add(/^\/acr\/v1\/_catalog$/, {
      GET: { name: 'acr.catalog', auth: catalogScope, rate: 'read', handle: (ctx) => this.catalog(ctx) },
    });
    router.add(/^\/acr\/v1\/(?<name>.+)\/_tags$/, {
      GET: { name: 'acr.tags.list', auth: read, rate: 'read', handle: (ctx) => this.listTags(ctx) },
    });
    router.add(/^\/acr\/v1\/(?<name>.+)\/_tags\/(?<tag>[^/]+)$/, {
      GET: { name: 'acr.tag.get', auth: read, rate: 'read', handle: (ctx) => this.getTag(ctx) },
      PATCH: { name: 'acr.tag.update', auth: write, rate: 'write', handle: (ctx) => this.updateTag(ctx) },
      DELETE: { name: 'acr.tag.delete', auth: remove, rate: 'write', handle: (ctx) => this.deleteTag(ctx) },
    });
    router.add(/^\/acr\/v1\/(?<name>.+)\/_manifests$/, {
      GET: { name: 'acr.manifests.list', auth: read, rate: 'read', handle: (ctx) => this.listManifests(ctx) },
    });
    router.add(/^\/acr\/v1\/(?<name>.+)\/_manifests\/(?<digest>[^/]+)$/, {
      GET: { name: 'acr.manifest.get', auth: read, rate: 'read', handle: (ctx) => this.getManifest(ctx) },
      PATCH: { name: 'acr.manifest.update', auth: write, rate: 'write', handle: (ctx) => this.updateManifest(ctx) },
    });
    // Last: it would otherwise swallow the paths above.
    router.add(/^\/acr\/v1\/(?<name>.+)$/, {
      GET: { name: 'acr.repository.get', auth: read, rate: 'read', handle: (ctx) => this.getRepository(ctx) },
      PATCH: { name: 'acr.repository.update', auth: write, rate: 'write', handle: (ctx) => this.updateRepository(ctx) },
      DELETE: { name: 'acr.repository.delete', auth: remove, rate: 'write', handle: (ctx) => this.deleteRepository(ctx) },
    });
  }

  private async catalog(ctx: RequestContext): Promise<void> {
    const n = pageSize(ctx);
    const page = await this.acr.catalog(ctx.registry, ctx.query.get('last') ?? '', n);
    sendJson(ctx, 200, { repositories: page.items }, linkHeader('/acr/v1/_catalog', page, n, {}));
  }

  private async getRepository(ctx: RequestContext): Promise<void> {
    sendJson(ctx, 200, await this.acr.getRepository(ctx.registry, ctx.params.name!));
  }

  private async updateRepository(ctx: RequestContext): Promise<void> {
    const changes = await readChanges(ctx);
    sendJson(ctx, 200, await this.acr.updateRepository(ctx.registry, ctx.params.name!, changes));
  }

  private async deleteRepository(ctx: RequestContext): Promise<void> {
    sendJson(ctx, 202, await this.acr.deleteRepository(ctx.registry, ctx.params.name!, eventRequest(ctx)));
  }

  private async listTags(ctx: RequestContext): Promise<void> {
    const name = ctx.params.name!;
    const page = pageRequest(ctx);
    const rawDigest = ctx.query.get('digest');
    let digest: string | undefined;
    if (rawDigest !== null && rawDigest !== '') {
      const parsed = parseDigest(rawDigest);
      if (!parsed) throw new OciError('DIGEST_INVALID', { message: 'invalid digest', detail: { digest: rawDigest } });
      digest = parsed.digest;
    }
    const result = await this.acr.listTags(ctx.registry, name, page, digest);
    const extra = { ...orderQuery(ctx), ...(digest ? { digest } : {}) };
    sendJson(
      ctx,
      200,
      { registry: result.registry, imageName: result.imageName, tags: result.page.items },
      linkHeader(`/acr/v1/${name}/_tags`, result.page, page.limit, extra),
    );
  }

  private async getTag(ctx: RequestContext): Promise<void> {
    sendJson(ctx, 200, await this.acr.getTag(ctx.registry, ctx.params.name!, tagParam(ctx)));
  }

  private async updateTag(ctx: RequestContext): Promise<void> {
    const tag = tagParam(ctx);
    const changes = await readChanges(ctx);
    sendJson(ctx, 200, await this.acr.updateTag(ctx.registry, ctx.params.name!, tag, changes));
  }

  private async deleteTag(ctx: RequestContext): Promise<void> {
    await this.acr.deleteTag(ctx.registry, ctx.params.name!, tagParam(ctx), eventRequest(ctx));
    send(ctx, 202);
  }

  private async listManifests(ctx: RequestContext): Promise<void> {
    const name = ctx.params.name!;
    const page = pageRequest(ctx);
    const result = await this.acr.listManifests(ctx.registry, name, page);
    sendJson(
      ctx,
      200,
      { registry: result.registry, imageName: result.imageName, manifests: result.page.items },
      linkHeader(`/acr/v1/${name}/_manifests`, result.page, page.limit, orderQuery(ctx)),
    );
  }

  private async getManifest(ctx: RequestContext): Promise<void> {
    sendJson(ctx, 200, await this.acr.getManifest(ctx.registry, ctx.params.name!, digestParam(ctx)));
  }

  private async updateManifest(ctx: RequestContext): Promise<void> {
    const digest = digestParam(ctx);
    const changes = await readChanges(ctx);
    sendJson(ctx, 200, await this.acr.updateManifest(ctx.registry, ctx.params.name!, digest, changes));
  }
}

function pageSize(ctx: RequestContext): number {
  const raw = ctx.query.get('n');
  if (raw === null || raw === '') return DEFAULT_PAGE_SIZE;
  if (!/^\d{1,9}$/.test(raw)) throw new OciError('PAGINATION_NUMBER_INVALID', { detail: { n: raw } });
  return Math.min(Number(raw), MAX_PAGE_SIZE);
}

/** `orderby`: ACR's `none` (by name / digest), `timedesc` or `timeasc` (by last update time). */
function listOrder(ctx: RequestContext): ListOrder {
  const raw = ctx.query.get('orderby');
  switch (raw) {
    case null:
    case '':
    case 'none':
      return 'name';
    case 'timeasc':
    case 'timedesc':
      return raw;
    default:
      throw new OciError('BAD_REQUEST', { message: 'orderby must be one of none, timedesc, timeasc', detail: { orderby: raw } });
  }
}

function pageRequest(ctx: RequestContext): PageRequest {
  return { last: ctx.query.get('last') ?? '', limit: pageSize(ctx), order: listOrder(ctx) };
}

/** The request's `orderby`, echoed in the next link so the following pages keep the order. */
function orderQuery(ctx: RequestContext): Record<string, string> {
  const orderby = ctx.query.get('orderby');
  return orderby ? { orderby } : {};
}

/** ACR's `Link: </acr/v1/…?last=x&n=2&orderby=…>; rel="next"` when another page exists. */
function linkHeader(path: string, page: Page<unknown>, n: number, extra: Record<string, string>): Record<string, string> {
  if (page.next === undefined) return {};
  const query = new URLSearchParams({ last: page.next, n: String(n), ...extra });
  return { Link: `<${path}?${query.toString()}>; rel="next"` };
}

function tagParam(ctx: RequestContext): string {
  const tag = ctx.decodedParam('tag') ?? '';
  if (!isValidTag(tag)) throw new OciError('TAG_INVALID', { message: 'invalid tag', detail: { tag } });
  return tag;
}

function digestParam(ctx: RequestContext): string {
  const raw = ctx.decodedParam('digest') ?? '';
  const digest = parseDigest(raw);
  if (!digest) throw new OciError('DIGEST_INVALID', { message: 'invalid digest', detail: { digest: raw } });
  return digest.digest;
}

async function readChanges(ctx: RequestContext): Promise<AttributeChanges> {
  const body = await ctx.readBody(
    MAX_PATCH_BYTES,
    () => new OciError('BAD_REQUEST', { status: 413, message: `the request body is larger than ${MAX_PATCH_BYTES} bytes` }),
  );
  return parseAttributeChanges(body);
}
