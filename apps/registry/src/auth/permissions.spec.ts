import { Permissions, repositoryPattern } from './permissions';
import { grantScopes } from './token.controller';

describe('repository patterns', () => {
  it('treats * as any run of characters (slashes included) and everything else literally', () => {
    expect(repositoryPattern('team/*').test('team/app/web')).toBe(true);
    expect(repositoryPattern('team/*').test('teams/app')).toBe(false);
    expect(repositoryPattern('a.b').test('axb')).toBe(false);
    expect(repositoryPattern('*-prod').test('svc/api-prod')).toBe(true);
    expect(repositoryPattern('exact').test('exact/sub')).toBe(false);
  });
});

describe('Permissions', () => {
  it('unions the actions of the roles that cover a repository', () => {
    const permissions = Permissions.fromRoles([
      { role: 'AcrPull', repositories: [] },
      { role: 'AcrPush', repositories: ['team/*'] },
      { role: 'AcrDelete', repositories: ['team/old'] },
    ]);
    expect([...permissions.repositoryActions('other')].sort()).toEqual(['metadata_read', 'pull']);
    expect(permissions.repositoryActions('team/app').has('push')).toBe(true);
    expect(permissions.repositoryActions('team/app').has('delete')).toBe(false);
    expect(permissions.repositoryActions('team/old').has('delete')).toBe(true);
    expect(permissions.catalog).toBe(true);
  });

  it('gives no catalog to repository-limited principals, and pull only to anonymous callers', () => {
    expect(Permissions.fromRoles([{ role: 'Owner', repositories: ['a'] }]).catalog).toBe(false);
    expect([...Permissions.anonymous(true).repositoryActions('x')]).toEqual(['pull']);
    expect(Permissions.anonymous(false).repositoryActions('x').size).toBe(0);
    expect(Permissions.admin().catalog).toBe(true);
  });
});

describe('grantScopes', () => {
  const pullOnly = Permissions.fromRoles([{ role: 'AcrPull', repositories: [] }]);

  it('grants requested ∩ allowed, merging repeated scopes and expanding *', () => {
    expect(grantScopes(['repository:a:pull,push', 'repository:a:delete', 'repository:b:*'], pullOnly, false)).toEqual([
      { type: 'repository', name: 'a', actions: ['pull'] },
      { type: 'repository', name: 'b', actions: ['pull', 'metadata_read'] },
    ]);
  });

  it('keeps refused scopes as empty entries for identified callers, drops them for anonymous ones, and ignores junk', () => {
    const none = Permissions.fromRoles([]);
    expect(grantScopes(['repository:a:push', 'registry:catalog:*'], none, false)).toEqual([
      { type: 'repository', name: 'a', actions: [] },
      { type: 'registry', name: 'catalog', actions: [] },
    ]);
    expect(grantScopes(['repository:a:push'], Permissions.anonymous(true), true)).toEqual([]);
    expect(grantScopes(['repository:../x:pull', 'repository:Upper:pull', 'nonsense', 'registry:other:*'], Permissions.admin(), false)).toEqual([
      { type: 'registry', name: 'other', actions: [] },
    ]);
  });
});
