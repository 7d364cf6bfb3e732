import { ADMIN_ACTIONS, ROLE_ACTIONS, type RepositoryAction, type RoleName } from '@berth/auth';

export interface RoleGrant {
  role: RoleName;
  /** Repository names or `*` patterns the role is limited to; empty = every repository. */
  repositories: string[];
}

interface Rule {
  actions: readonly RepositoryAction[];
  /** undefined = every repository. */
  matchers?: RegExp[];
}

/**
 * Compiles a repository pattern: `*` matches any run of characters (slashes
 * included, so `team/*` covers `team/app/web`); everything else is literal.
 */
export function repositoryPattern(pattern: string): RegExp {
  const escaped = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${escaped}$`);
}

/** What one identity may do in one registry. */
export class Permissions {
  private constructor(
    private readonly rules: Rule[],
    /** May list the registry's catalog (`registry:catalog:*`). */
    readonly catalog: boolean,
  ) {}

  /** The admin user: everything, as in ACR. */
  static admin(): Permissions {
    return new Permissions([{ actions: ADMIN_ACTIONS }], true);
  }

  /** Anonymous callers: pull anywhere when the registry allows anonymous pull, else nothing. */
  static anonymous(anonymousPullEnabled: boolean): Permissions {
    return new Permissions(anonymousPullEnabled ? [{ actions: ['pull'] }] : [], false);
  }

  /**
   * A service principal's role assignments. Catalog listing needs an
   * assignment that is not limited to some repositories (a limited principal
   * must not learn the other repositories' names).
   */
  static fromRoles(roles: RoleGrant[]): Permissions {
    const rules = roles.map((grant) => ({
      actions: ROLE_ACTIONS[grant.role],
      matchers: grant.repositories.length === 0 ? undefined : grant.repositories.map(repositoryPattern),
    }));
    return new Permissions(rules, roles.some((grant) => grant.repositories.length === 0));
  }

  repositoryActions(name: string): Set<string> {
    const actions = new Set<string>();
    for (const rule of this.rules) {
      if (rule.matchers && !rule.matchers.some((matcher) => matcher.test(name))) continue;
      for (const action of rule.actions) actions.add(action);
    }
    return actions;
  }
}
