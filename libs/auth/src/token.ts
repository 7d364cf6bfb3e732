import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { deriveKey } from './secret-box';

/**
 * Registry tokens: compact JWS (HS256) signed with a key derived from
 * BERTH_SECRET_KEY for this purpose only. Every data-plane replica can verify
 * them locally (no database round trip), and each token is bound to exactly
 * one registry through `aud` (its login server) and `rid` (its id).
 *
 * Two kinds, told apart by `typ`, so a refresh token can never be presented
 * as an access token or the other way round:
 * - access tokens list the granted actions (`access`), short-lived;
 * - refresh tokens (docker's "identity token") carry only the identity; the
 *   token endpoint re-evaluates that identity's permissions on every refresh.
 */

export const TOKEN_ISSUER = 'berth';

/** One entry of an access token's `access` claim (Docker token spec shape). */
export interface AccessEntry {
  type: 'repository' | 'registry';
  name: string;
  actions: string[];
}

/** Who a refresh token speaks for. `secretId` lets a revoked secret end its refresh tokens. */
export type TokenIdentity =
  | { kind: 'admin' }
  | { kind: 'principal'; principalId: string; secretId: string }
  | { kind: 'anonymous' };

interface CommonClaims {
  iss: string;
  /** Subject: the registry name for the admin user, the client id of a principal, '' for anonymous. */
  sub: string;
  /** The registry's login server: the token is valid there and nowhere else. */
  aud: string;
  /** The registry's id. */
  rid: string;
  iat: number;
  nbf: number;
  exp: number;
  jti: string;
}

export interface AccessTokenClaims extends CommonClaims {
  typ: 'access';
  access: AccessEntry[];
}

export interface RefreshTokenClaims extends CommonClaims {
  typ: 'refresh';
  grant_type: 'refresh_token';
  identity: TokenIdentity;
}

export interface IssuedToken {
  token: string;
  expiresIn: number;
  issuedAt: Date;
}

export type TokenErrorReason = 'malformed' | 'signature' | 'expired' | 'not_yet_valid' | 'audience' | 'type';

export class TokenError extends Error {
  constructor(readonly reason: TokenErrorReason) {
    super(`invalid token: ${reason}`);
    this.name = 'TokenError';
  }
}

/** Seconds of clock skew tolerated between replicas for `nbf`/`exp`. */
const CLOCK_SKEW_SECONDS = 30;
const HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');

export interface TokenSubject {
  registryId: string;
  /** Login server (lower-case host, no port): the audience. */
  audience: string;
  subject: string;
}

/**
 * Access tokens whose signature has been checked, kept by their exact text:
 * a client sends the same token on every request until it expires, and the
 * HMAC and JSON parse were ~15% of the data plane's CPU under a manifest-GET
 * load. Lifetime, audience and kind are still checked on every use; the
 * oldest entry goes when the cache is full.
 */
const VERIFIED_ACCESS_TOKENS_MAX = 1024;

/** Issues and verifies registry tokens; one instance per process is enough. */
export class TokenService {
  private readonly key: Buffer;
  private readonly verifiedAccess = new Map<string, AccessTokenClaims>();

  constructor(
    rootSecret: Buffer,
    private readonly ttl: { accessTtlSeconds: number; refreshTtlSeconds: number },
    private readonly now: () => number = Date.now,
  ) {
    this.key = deriveKey(rootSecret, 'berth:token-signing:v1');
  }

  issueAccessToken(subject: TokenSubject, access: AccessEntry[]): IssuedToken {
    return this.issue<AccessTokenClaims>(this.ttl.accessTtlSeconds, (common) => ({ ...common, typ: 'access', access }), subject);
  }

  issueRefreshToken(subject: TokenSubject, identity: TokenIdentity): IssuedToken {
    return this.issue<RefreshTokenClaims>(
      this.ttl.refreshTtlSeconds,
      (common) => ({ ...common, typ: 'refresh', grant_type: 'refresh_token', identity }),
      subject,
    );
  }

  /** Verifies signature, lifetime, audience and kind. Throws TokenError. */
  verifyAccessToken(token: string, audience: string): AccessTokenClaims {
    const known = this.verifiedAccess.get(token);
    if (known) {
      try {
        this.checkClaims(known, audience, 'access');
      } catch (error) {
        // An expired token stays expired: forget it now rather than when newer ones push it out.
        if (error instanceof TokenError && error.reason === 'expired') this.verifiedAccess.delete(token);
        throw error;
      }
      return known;
    }
    const claims = deepFreeze(this.verify<AccessTokenClaims>(token, audience, 'access'));
    if (this.verifiedAccess.size >= VERIFIED_ACCESS_TOKENS_MAX) this.verifiedAccess.delete(this.verifiedAccess.keys().next().value!);
    this.verifiedAccess.set(token, claims);
    return claims;
  }

  /** Access tokens remembered as verified (at most 1,024). */
  get rememberedAccessTokens(): number {
    return this.verifiedAccess.size;
  }

  /** Verifies signature, lifetime, audience and kind. Throws TokenError. */
  verifyRefreshToken(token: string, audience: string): RefreshTokenClaims {
    return this.verify<RefreshTokenClaims>(token, audience, 'refresh');
  }

  private issue<T extends CommonClaims>(ttlSeconds: number, build: (common: CommonClaims) => T, subject: TokenSubject): IssuedToken {
    const nowMs = this.now();
    const iat = Math.floor(nowMs / 1000);
    const claims = build({
      iss: TOKEN_ISSUER,
      sub: subject.subject,
      aud: subject.audience,
      rid: subject.registryId,
      iat,
      nbf: iat,
      exp: iat + ttlSeconds,
      jti: randomUUID(),
    });
    const body = `${HEADER}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    return { token: `${body}.${this.sign(body)}`, expiresIn: ttlSeconds, issuedAt: new Date(iat * 1000) };
  }

  private sign(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }

  private verify<T extends CommonClaims & { typ: string }>(token: string, audience: string, typ: T['typ']): T {
    const parts = token.split('.');
    if (parts.length !== 3) throw new TokenError('malformed');
    const [header, payload, signature] = parts as [string, string, string];
    // Only our fixed header is acceptable: no `alg` negotiation, so `none` or
    // RS/HS confusion cannot arise.
    if (header !== HEADER) throw new TokenError('malformed');
    const expected = Buffer.from(this.sign(`${header}.${payload}`), 'base64url');
    const given = Buffer.from(signature, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new TokenError('signature');
    let claims: T;
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as T;
    } catch {
      throw new TokenError('malformed');
    }
    if (typeof claims !== 'object' || claims === null || claims.iss !== TOKEN_ISSUER) throw new TokenError('malformed');
    this.checkClaims(claims, audience, typ);
    return claims;
  }

  /** Kind, lifetime and audience: checked on every use of a token, cached or not. */
  private checkClaims(claims: CommonClaims & { typ: string }, audience: string, typ: string): void {
    if (claims.typ !== typ) throw new TokenError('type');
    const now = Math.floor(this.now() / 1000);
    if (typeof claims.exp !== 'number' || now >= claims.exp + CLOCK_SKEW_SECONDS) throw new TokenError('expired');
    if (typeof claims.nbf !== 'number' || now < claims.nbf - CLOCK_SKEW_SECONDS) throw new TokenError('not_yet_valid');
    if (claims.aud !== audience) throw new TokenError('audience');
  }
}

/** Freezes a parsed JSON value and everything in it (claims shared between requests must not change). */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/**
 * Parses one Docker token-spec scope (`repository:team/app:pull,push`,
 * `registry:catalog:*`). The name may itself contain `:` only for the
 * registry type's port-free names, so the first and last colons split it.
 * Returns undefined for anything malformed.
 */
export function parseScope(scope: string): AccessEntry | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  const type = scope.slice(0, first);
  if (type !== 'repository' && type !== 'registry') return undefined;
  const name = scope.slice(first + 1, last);
  const actions = scope
    .slice(last + 1)
    .split(',')
    .map((action) => action.trim())
    .filter(Boolean);
  if (!name || actions.length === 0) return undefined;
  return { type, name, actions };
}

/** Formats an access entry back into scope syntax, for `WWW-Authenticate`. */
export function formatScope(entry: AccessEntry): string {
  return `${entry.type}:${entry.name}:${entry.actions.join(',')}`;
}
