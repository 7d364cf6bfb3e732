import { parseBasicAuth, parseScope, type AccessEntry, type TokenService } from '@berth/auth';
import { isValidRepositoryName, OciError } from '@berth/oci';
import type { RequestContext } from '../http/request-context';
import { sendJson } from '../http/respond';
import type { Router } from '../http/router';
import type { Identity, IdentityService } from './identity.service';
import type { Permissions } from './permissions';

const MAX_FORM_BYTES = 64 * 1024;
const REPOSITORY_ACTION_ORDER = ['pull', 'push', 'delete', 'metadata_read', 'metadata_write'];

/**
 * Grants requested ∩ allowed, per scope, as Distribution's token servers do:
 * a scope the identity may not use yields no actions rather than an error.
 * Authenticated callers keep an entry with no actions for a repository they
 * asked about, so the data plane can tell "refused" (403) from "not asked"
 * (401 + challenge).
 */
export function grantScopes(requested: string[], permissions: Permissions, anonymous: boolean): AccessEntry[] {
  const granted = new Map<string, AccessEntry>();
  for (const raw of requested) {
    const scope = parseScope(raw);
    if (!scope) continue;
    let actions: string[];
    if (scope.type === 'repository') {
      if (!isValidRepositoryName(scope.name)) continue;
      const allowed = permissions.repositoryActions(scope.name);
      actions = scope.actions.includes('*') ? [...allowed] : scope.actions.filter((action) => allowed.has(action));
    } else {
      actions = scope.name === 'catalog' && permissions.catalog ? ['*'] : [];
    }
    if (actions.length === 0 && anonymous) continue;
    const key = `${scope.type}:${scope.name}`;
    const entry = granted.get(key) ?? { type: scope.type, name: scope.name, actions: [] };
    entry.actions = [...new Set([...entry.actions, ...actions])].sort(
      (a, b) => REPOSITORY_ACTION_ORDER.indexOf(a) - REPOSITORY_ACTION_ORDER.indexOf(b),
    );
    granted.set(key, entry);
  }
  return [...granted.values()];
}

/** `scope` may repeat, and one value may hold several space-separated scopes. */
function requestedScopes(params: URLSearchParams): string[] {
  return params
    .getAll('scope')
    .flatMap((value) => value.split(' '))
    .filter(Boolean);
}

/** The Docker token endpoint (`/oauth2/token`) of one registry. */
export class TokenController {
  constructor(
    private readonly tokens: TokenService,
    private readonly identities: IdentityService,
  ) {}

  register(router: Router): void {
    router.add(/^\/oauth2\/token\/?$/, {
      GET: { name: 'oauth2.token', auth: { kind: 'public' }, handle: (ctx) => this.getToken(ctx) },
      POST: { name: 'oauth2.token', auth: { kind: 'public' }, handle: (ctx) => this.postToken(ctx) },
    });
    router.add(/^\/oauth2\/exchange\/?$/, {
      POST: {
        name: 'oauth2.exchange',
        auth: { kind: 'public' },
        handle: async () => {
          throw new OciError('UNSUPPORTED', {
            message: 'Entra ID token exchange is not available; use the admin user or a service principal',
          });
        },
      },
    });
  }

  /** `GET /oauth2/token?service&scope[&offline_token=true]` with Basic auth, or anonymously. */
  private async getToken(ctx: RequestContext): Promise<void> {
    const header = ctx.header('authorization');
    let identity: Identity | undefined;
    if (header) {
      const basic = parseBasicAuth(header);
      identity = basic ? await this.identities.authenticatePassword(ctx.registry, basic.username, basic.password) : undefined;
    } else {
      identity = this.anonymous(ctx);
    }
    await this.respond(ctx, identity, requestedScopes(ctx.query), ctx.query.get('offline_token') === 'true');
  }

  /** `POST /oauth2/token` form: `grant_type=password|refresh_token`, `scope`, `service`, `access_type=offline`. */
  private async postToken(ctx: RequestContext): Promise<void> {
    const body = await ctx.readBody(MAX_FORM_BYTES, () => new OciError('UNSUPPORTED', { status: 413, message: 'form too large' }));
    const form = new URLSearchParams(body.toString('utf8'));
    const grantType = form.get('grant_type');
    let identity: Identity | undefined;
    if (grantType === 'refresh_token') {
      identity = await this.identities.authenticateRefreshToken(ctx.registry, form.get('refresh_token') ?? '');
    } else if (grantType === 'password' || grantType === null) {
      const basic = ctx.header('authorization') ? parseBasicAuth(ctx.header('authorization')!) : undefined;
      const username = form.get('username') ?? basic?.username;
      const password = form.get('password') ?? basic?.password;
      // The ACR SDK asks anonymously with grant_type=password and no credentials.
      identity = username || password ? await this.identities.authenticatePassword(ctx.registry, username ?? '', password ?? '') : this.anonymous(ctx);
    } else {
      throw new OciError('UNSUPPORTED', { status: 400, message: `unsupported grant_type ${grantType}` });
    }
    await this.respond(ctx, identity, requestedScopes(form), form.get('access_type') === 'offline');
  }

  private anonymous(ctx: RequestContext): Identity | undefined {
    return ctx.registry.anonymousPullEnabled ? { kind: 'anonymous', subject: '' } : undefined;
  }

  private async respond(ctx: RequestContext, identity: Identity | undefined, scopes: string[], offline: boolean): Promise<void> {
    if (!identity) throw new OciError('UNAUTHORIZED', { message: 'authentication required: invalid username, password or token' });
    const registry = ctx.registry;
    const permissions = await this.identities.permissions(registry, identity);
    const access = grantScopes(scopes, permissions, identity.kind === 'anonymous');
    const subject = { registryId: registry.id, audience: registry.loginServer, subject: identity.subject };
    const issued = this.tokens.issueAccessToken(subject, access);
    const body: Record<string, unknown> = {
      access_token: issued.token,
      token: issued.token,
      expires_in: issued.expiresIn,
      issued_at: issued.issuedAt.toISOString(),
    };
    const refreshIdentity = offline ? this.identities.tokenIdentity(identity) : undefined;
    if (refreshIdentity) body.refresh_token = this.tokens.issueRefreshToken(subject, refreshIdentity).token;
    sendJson(ctx, 200, body, { 'Cache-Control': 'no-store' });
  }
}
