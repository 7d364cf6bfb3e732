import { formatScope, parseBasicAuth, TokenError, type AccessEntry, type TokenService } from '@berth/auth';
import { OciError } from '@berth/oci';
import type { RequestContext } from '../http/request-context';
import { decide, PermissionsGrant, TokenGrant, type Grant } from './grant';
import type { IdentityService } from './identity.service';
import { Permissions } from './permissions';

/**
 * Authenticates /v2 requests and checks the route's required access.
 * Bearer tokens are verified locally (signature, lifetime, audience = this
 * registry's login server). Basic credentials are accepted too, as a
 * convenience for plain HTTP clients (one credential lookup per request).
 */
export class RequestAuthenticator {
  constructor(
    private readonly tokens: TokenService,
    private readonly identities: IdentityService,
  ) {}

  async authenticate(ctx: RequestContext): Promise<Grant> {
    const registry = ctx.registry;
    const header = ctx.header('authorization');
    if (!header) return new PermissionsGrant('', Permissions.anonymous(registry.anonymousPullEnabled), true);
    if (/^Bearer\s/i.test(header)) {
      const token = header.slice(7).trim();
      try {
        const claims = this.tokens.verifyAccessToken(token, registry.loginServer);
        if (claims.rid !== registry.id) throw new TokenError('audience');
        return new TokenGrant(claims);
      } catch (error) {
        if (error instanceof TokenError) throw this.challenge(ctx, undefined, 'invalid_token');
        throw error;
      }
    }
    const basic = parseBasicAuth(header);
    if (basic) {
      const identity = await this.identities.authenticatePassword(registry, basic.username, basic.password);
      if (!identity) throw this.challenge(ctx);
      return new PermissionsGrant(identity.subject, await this.identities.permissions(registry, identity), false);
    }
    throw this.challenge(ctx);
  }

  /** Throws unless the grant holds `required` (undefined = any authenticated caller). */
  authorize(ctx: RequestContext, grant: Grant, required: AccessEntry | undefined): void {
    if (!required) {
      if (grant.anonymous) throw this.challenge(ctx);
      return;
    }
    const decision = decide(grant, required);
    if (decision === 'allowed') return;
    // A caller that did not ask for this scope (or has no credential) is told
    // how to get a token for it; one that asked and was refused is denied.
    if (grant.anonymous || decision === 'unmentioned') {
      throw this.challenge(ctx, required, grant.anonymous ? undefined : 'insufficient_scope');
    }
    throw new OciError('DENIED', {
      message: `requested access to the resource is denied: ${formatScope(required)}`,
      detail: required.actions.map((action) => ({ Type: required.type, Name: required.name, Action: action })),
    });
  }

  /** A 401 with the Bearer challenge clients follow to the token endpoint. */
  challenge(ctx: RequestContext, scope?: AccessEntry, error?: string): OciError {
    let value = `Bearer realm="${ctx.scheme}://${ctx.host}/oauth2/token",service="${ctx.host}"`;
    if (scope) value += `,scope="${formatScope(scope)}"`;
    if (error) value += `,error="${error}"`;
    return new OciError('UNAUTHORIZED', {
      headers: { 'WWW-Authenticate': value },
      detail: scope ? scope.actions.map((action) => ({ Type: scope.type, Name: scope.name, Action: action })) : undefined,
    });
  }
}
