import type { AccessEntry, AccessTokenClaims } from '@berth/auth';
import type { Permissions } from './permissions';

/** What the credential of one request allows. */
export interface Grant {
  /** Token subject: the registry name (admin), a client id, or '' (anonymous). */
  readonly subject: string;
  /** True when the caller presented no credential at all. */
  readonly anonymous: boolean;
  /** Actions held on a resource; undefined when the credential does not mention it. */
  actionsFor(type: AccessEntry['type'], name: string): ReadonlySet<string> | undefined;
}

export type GrantDecision = 'allowed' | 'unmentioned' | 'denied';

export function decide(grant: Grant, required: AccessEntry): GrantDecision {
  const held = grant.actionsFor(required.type, required.name);
  if (!held) return 'unmentioned';
  if (held.has('*')) return 'allowed';
  return required.actions.every((action) => held.has(action)) ? 'allowed' : 'denied';
}

/** A verified access token: exactly the scopes the token endpoint granted. */
export class TokenGrant implements Grant {
  readonly anonymous = false;
  private readonly entries = new Map<string, Set<string>>();

  constructor(claims: AccessTokenClaims) {
    this.subject = claims.sub;
    for (const entry of Array.isArray(claims.access) ? claims.access : []) {
      const key = `${entry.type}:${entry.name}`;
      const actions = this.entries.get(key) ?? new Set<string>();
      for (const action of entry.actions) actions.add(action);
      this.entries.set(key, actions);
    }
  }

  readonly subject: string;

  actionsFor(type: AccessEntry['type'], name: string): ReadonlySet<string> | undefined {
    return this.entries.get(`${type}:${name}`);
  }
}

/** Credentials presented directly (Basic on /v2, or none): the identity's full permissions. */
export class PermissionsGrant implements Grant {
  constructor(
    readonly subject: string,
    private readonly permissions: Permissions,
    readonly anonymous: boolean,
  ) {}

  actionsFor(type: AccessEntry['type'], name: string): ReadonlySet<string> | undefined {
    if (type === 'registry') return name === 'catalog' && this.permissions.catalog ? new Set(['*']) : undefined;
    const actions = this.permissions.repositoryActions(name);
    // Anonymous callers that hold nothing are told to authenticate (401), not refused (403).
    return this.anonymous && actions.size === 0 ? undefined : actions;
  }
}
