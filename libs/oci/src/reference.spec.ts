import { isValidRepositoryName, isValidTag, parseManifestReference } from './reference';

describe('repository name grammar', () => {
  it.each(['a', 'library/ubuntu', 'team/app/web', 'a.b', 'a_b', 'a__b', 'a-b', 'a---b', 'x1/y2.z3', '0'])('accepts %s', (name) => {
    expect(isValidRepositoryName(name)).toBe(true);
  });

  it.each([
    '',
    '../x',
    'x/..',
    'Upper',
    'team/App',
    '-a',
    'a-',
    'a___b',
    'a..b',
    'a//b',
    '/a',
    'a/',
    'a b',
    'a%2Fb',
    '.a',
    'a/.b',
  ])('rejects %j', (name) => {
    expect(isValidRepositoryName(name)).toBe(false);
  });

  it('bounds host/name to 255 characters', () => {
    const host = 'myregistry.localhost:5000';
    const fits = 'a'.repeat(255 - host.length - 1);
    expect(isValidRepositoryName(fits, host)).toBe(true);
    expect(isValidRepositoryName(`${fits}a`, host)).toBe(false);
    expect(isValidRepositoryName('a'.repeat(255))).toBe(true);
    expect(isValidRepositoryName('a'.repeat(256))).toBe(false);
  });
});

describe('tag grammar', () => {
  it.each(['latest', 'v1.2.3', '_x', 'A-b_c.d', 'a'.repeat(128), 'sha256-abc'])('accepts %s', (tag) => {
    expect(isValidTag(tag)).toBe(true);
  });

  it.each(['', '.x', '-x', 'a'.repeat(129), 'a/b', 'a:b', 'a b', 'ä'])('rejects %j', (tag) => {
    expect(isValidTag(tag)).toBe(false);
  });
});

describe('parseManifestReference', () => {
  const digest = `sha256:${'a'.repeat(64)}`;

  it('tells tags from digests', () => {
    expect(parseManifestReference('latest')).toEqual({ kind: 'tag', tag: 'latest' });
    expect(parseManifestReference(digest)).toEqual({ kind: 'digest', digest: { algorithm: 'sha256', hex: 'a'.repeat(64), digest } });
  });

  it('rejects malformed references of either kind', () => {
    expect(parseManifestReference('sha256:abc')).toBeUndefined();
    expect(parseManifestReference(`sha256:${'A'.repeat(64)}`)).toBeUndefined();
    expect(parseManifestReference('..')).toBeUndefined();
    expect(parseManifestReference('')).toBeUndefined();
  });
});
