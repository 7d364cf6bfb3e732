import { OciError } from '@berth/oci';
import type { RequestContext } from '../http/request-context';
import { sendJson } from '../http/respond';
import type { Router } from '../http/router';
import { catalogScope, repositoryScope } from '../http/scopes';
import type { ListingRepository } from './listing.repository';

/** Largest page served; a bigger `n` gets this many plus a `Link` to the rest. */
export const MAX_PAGE_SIZE = 1000;
const DEFAULT_CATALOG_PAGE = 100;

function pageSize(ctx: RequestContext): number | undefined {
  const raw = ctx.query.get('n');
  if (raw === null || raw === '') return undefined;
  if (!/^\d{1,9}$/.test(raw)) throw new OciError('PAGINATION_NUMBER_INVALID', { detail: { n: raw } });
  return Number(raw);
}

function nextLink(path: string, n: number, last: string): string {
  return `<${path}?n=${n}&last=${encodeURIComponent(last)}>; rel="next"`;
}

/** `/v2/_catalog` and `/v2/<name>/tags/list` with `n`/`last` pagination (OCI end-8). */
export class ListingController {
  constructor(private readonly listings: ListingRepository) {}

  register(router: Router): void {
    router.add(/^\/v2\/_catalog$/, {
      GET: { name: 'catalog.list', auth: catalogScope, rate: 'read', handle: (ctx) => this.catalog(ctx) },
    });
    router.add(/^\/v2\/(?<name>.+)\/tags\/list$/, {
      GET: { name: 'tags.list', auth: repositoryScope('pull'), rate: 'read', handle: (ctx) => this.tags(ctx) },
    });
  }

  private async catalog(ctx: RequestContext): Promise<void> {
    const requested = pageSize(ctx) ?? DEFAULT_CATALOG_PAGE;
    const n = Math.min(requested, MAX_PAGE_SIZE);
    const last = ctx.query.get('last') ?? '';
    const names = n === 0 ? [] : await this.listings.repositoryNames(ctx.registry.id, last, n + 1);
    const page = names.slice(0, n);
    const headers: Record<string, string> = {};
    if (names.length > n) headers.Link = nextLink('/v2/_catalog', n, page[page.length - 1]!);
    sendJson(ctx, 200, { repositories: page }, headers);
  }

  private async tags(ctx: RequestContext): Promise<void> {
    const name = ctx.params.name!;
    const repositoryId = await this.listings.repositoryId(ctx.registry.id, name);
    if (!repositoryId) throw new OciError('NAME_UNKNOWN', { detail: { name } });
    const requested = pageSize(ctx);
    const last = ctx.query.get('last') ?? '';
    if (requested === undefined) {
      // No `n`: the spec asks for every tag.
      sendJson(ctx, 200, { name, tags: await this.listings.tagNames(repositoryId, last, undefined) });
      return;
    }
    const n = Math.min(requested, MAX_PAGE_SIZE);
    const tags = n === 0 ? [] : await this.listings.tagNames(repositoryId, last, n + 1);
    const page = tags.slice(0, n);
    const headers: Record<string, string> = {};
    if (tags.length > n) headers.Link = nextLink(`/v2/${name}/tags/list`, n, page[page.length - 1]!);
    sendJson(ctx, 200, { name, tags: page }, headers);
  }
}
