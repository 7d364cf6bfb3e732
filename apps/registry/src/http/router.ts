import type { AccessEntry } from '@berth/auth';
import type { RequestContext } from './request-context';

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/**
 * Who may call a route:
 * - `public`: no registry authentication (the token endpoint checks credentials itself);
 * - `authenticated`: any valid credential of this registry (`GET /v2/`);
 * - `scope`: the caller must hold these actions (computed from the path).
 */
export type AuthPolicy =
  | { kind: 'public' }
  | { kind: 'authenticated' }
  | { kind: 'scope'; scope: (ctx: RequestContext) => AccessEntry };

export interface RouteHandler {
  /** Stable label for metrics and logs (never the raw path). */
  name: string;
  auth: AuthPolicy;
  /** Which per-minute SKU budget the request spends; omitted = not counted. */
  rate?: 'read' | 'write';
  handle(ctx: RequestContext): Promise<void>;
}

interface Route {
  pattern: RegExp;
  handlers: Partial<Record<HttpMethod, RouteHandler>>;
}

export type RouteMatch =
  | { kind: 'found'; handler: RouteHandler; params: Record<string, string> }
  | { kind: 'method-not-allowed'; allowed: HttpMethod[] }
  | { kind: 'not-found' };

/**
 * A small ordered router: the first pattern that matches the path wins, so
 * the more specific `/v2/<name>/blobs/uploads/…` patterns are added before
 * `/v2/<name>/blobs/<digest>` (repository names contain `/`, and a greedy
 * `(?<name>.+)` with a fixed suffix is how Distribution resolves them too).
 * Named groups become `params`.
 */
export class Router {
  private readonly routes: Route[] = [];

  add(pattern: RegExp, handlers: Partial<Record<HttpMethod, RouteHandler>>): this {
    const existing = this.routes.find((route) => route.pattern.source === pattern.source);
    if (existing) Object.assign(existing.handlers, handlers);
    else this.routes.push({ pattern, handlers: { ...handlers } });
    return this;
  }

  match(method: string, path: string): RouteMatch {
    for (const route of this.routes) {
      const match = route.pattern.exec(path);
      if (!match) continue;
      const handler = route.handlers[method as HttpMethod];
      if (!handler) return { kind: 'method-not-allowed', allowed: Object.keys(route.handlers) as HttpMethod[] };
      return { kind: 'found', handler, params: { ...match.groups } };
    }
    return { kind: 'not-found' };
  }
}
