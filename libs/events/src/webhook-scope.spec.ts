import { parseScope, scopeMatches } from './webhook-scope';

describe('webhook scope (ACR semantics)', () => {
  const push = (repository: string, tag?: string) => ({ repository, tags: tag ? [tag] : [] });

  it('matches everything when empty', () => {
    expect(parseScope('')).toBeUndefined();
    expect(scopeMatches('', push('any/repo', 'v1'))).toBe(true);
    expect(scopeMatches('  ', push('x'))).toBe(true);
  });

  it('treats a bare repository as repo:latest', () => {
    expect(scopeMatches('hello', push('hello', 'latest'))).toBe(true);
    expect(scopeMatches('hello', push('hello', 'v1'))).toBe(false);
    expect(scopeMatches('hello', push('hello-world', 'latest'))).toBe(false);
  });

  it('matches one tag exactly with repo:tag', () => {
    expect(scopeMatches('hello:v1', push('hello', 'v1'))).toBe(true);
    expect(scopeMatches('hello:v1', push('hello', 'v10'))).toBe(false);
    expect(scopeMatches('hello:v1', push('other', 'v1'))).toBe(false);
  });

  it('supports * wildcards in both parts, across path segments', () => {
    expect(scopeMatches('hello:*', push('hello', 'anything'))).toBe(true);
    expect(scopeMatches('team/*:*', push('team/app/web', 'v2'))).toBe(true);
    expect(scopeMatches('team/*:*', push('other/app', 'v2'))).toBe(false);
    expect(scopeMatches('*:release-*', push('a/b', 'release-1.2'))).toBe(true);
    expect(scopeMatches('*:release-*', push('a/b', 'dev-1'))).toBe(false);
  });

  it('escapes regex metacharacters', () => {
    expect(scopeMatches('a.b:v1.0', push('a.b', 'v1.0'))).toBe(true);
    expect(scopeMatches('a.b:v1.0', push('axb', 'v1x0'))).toBe(false);
    expect(scopeMatches('a+b:(x)', push('a+b', '(x)'))).toBe(true);
  });

  it('lets digest-only events through wildcard tag scopes only', () => {
    expect(scopeMatches('hello:*', push('hello'))).toBe(true);
    expect(scopeMatches('hello:latest', push('hello'))).toBe(false);
    expect(scopeMatches('hello', push('hello'))).toBe(false);
  });

  it('matches when any of several tags matches (repository deletes)', () => {
    expect(scopeMatches('hello:v2', { repository: 'hello', tags: ['v1', 'v2'] })).toBe(true);
    expect(scopeMatches('hello:v3', { repository: 'hello', tags: ['v1', 'v2'] })).toBe(false);
  });
});
