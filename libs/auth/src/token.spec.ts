import { TokenError, TokenService, formatScope, parseScope } from './token';

const secret = Buffer.alloc(32, 7);
const ttl = { accessTtlSeconds: 300, refreshTtlSeconds: 3600 };
const subject = { registryId: 'r1', audience: 'alpha.example.test', subject: 'alpha' };

function reason(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof TokenError) return error.reason;
    throw error;
  }
  return undefined;
}

describe('TokenService', () => {
  it('issues access tokens that verify for their audience only', () => {
    const tokens = new TokenService(secret, ttl);
    const access = [{ type: 'repository' as const, name: 'team/app', actions: ['pull', 'push'] }];
    const issued = tokens.issueAccessToken(subject, access);
    expect(issued.expiresIn).toBe(300);
    const claims = tokens.verifyAccessToken(issued.token, 'alpha.example.test');
    expect(claims).toMatchObject({ iss: 'berth', sub: 'alpha', aud: 'alpha.example.test', rid: 'r1', typ: 'access', access });
    expect(claims.exp - claims.iat).toBe(300);
    expect(reason(() => tokens.verifyAccessToken(issued.token, 'beta.example.test'))).toBe('audience');
  });

  it('never accepts a refresh token as an access token or vice versa', () => {
    const tokens = new TokenService(secret, ttl);
    const refresh = tokens.issueRefreshToken(subject, { kind: 'admin' });
    const access = tokens.issueAccessToken(subject, []);
    expect(reason(() => tokens.verifyAccessToken(refresh.token, subject.audience))).toBe('type');
    expect(reason(() => tokens.verifyRefreshToken(access.token, subject.audience))).toBe('type');
    expect(tokens.verifyRefreshToken(refresh.token, subject.audience).identity).toEqual({ kind: 'admin' });
  });

  it('rejects expired tokens (after the skew allowance) and tokens from the future', () => {
    let now = 1_700_000_000_000;
    const tokens = new TokenService(secret, ttl, () => now);
    const issued = tokens.issueAccessToken(subject, []);
    now += 320_000; // inside the 30 s skew allowance
    expect(reason(() => tokens.verifyAccessToken(issued.token, subject.audience))).toBeUndefined();
    now += 20_000;
    expect(reason(() => tokens.verifyAccessToken(issued.token, subject.audience))).toBe('expired');
    now = 1_700_000_000_000 - 60_000;
    expect(reason(() => tokens.verifyAccessToken(issued.token, subject.audience))).toBe('not_yet_valid');
  });

  it('rejects tampered, foreign-key, alg-none and malformed tokens', () => {
    const tokens = new TokenService(secret, ttl);
    const issued = tokens.issueAccessToken(subject, [{ type: 'repository', name: 'a', actions: ['pull'] }]);
    const [header, payload, signature] = issued.token.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    claims.access[0].actions = ['pull', 'push', 'delete'];
    const forged = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
    expect(reason(() => tokens.verifyAccessToken(forged, subject.audience))).toBe('signature');

    const other = new TokenService(Buffer.alloc(32, 8), ttl).issueAccessToken(subject, []);
    expect(reason(() => tokens.verifyAccessToken(other.token, subject.audience))).toBe('signature');

    const none = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    expect(reason(() => tokens.verifyAccessToken(`${none}.${payload}.`, subject.audience))).toBe('malformed');
    expect(reason(() => tokens.verifyAccessToken('abc', subject.audience))).toBe('malformed');
    expect(reason(() => tokens.verifyAccessToken('', subject.audience))).toBe('malformed');
  });

  it('checks a token it has verified before (and remembers) again for lifetime, audience and kind, and shares its claims read-only', () => {
    let now = 1_700_000_000_000;
    const tokens = new TokenService(secret, ttl, () => now);
    const issued = tokens.issueAccessToken(subject, [{ type: 'repository', name: 'a', actions: ['pull'] }]);
    const first = tokens.verifyAccessToken(issued.token, subject.audience);
    expect(tokens.verifyAccessToken(issued.token, subject.audience)).toBe(first); // the remembered claims
    expect(reason(() => tokens.verifyAccessToken(issued.token, 'beta.example.test'))).toBe('audience');
    expect(reason(() => tokens.verifyRefreshToken(issued.token, subject.audience))).toBe('type');
    expect(() => (first.access[0]!.actions as string[]).push('delete')).toThrow(TypeError);
    expect(tokens.verifyAccessToken(issued.token, subject.audience).access[0]!.actions).toEqual(['pull']);
    // A forged variant of a remembered token is a different text: its signature is checked.
    const [header, payload, signature] = issued.token.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    claims.access[0].actions = ['pull', 'push'];
    expect(reason(() => tokens.verifyAccessToken(`${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`, subject.audience))).toBe('signature');
    expect(tokens.rememberedAccessTokens).toBe(1);
    now += 400_000;
    expect(reason(() => tokens.verifyAccessToken(issued.token, subject.audience))).toBe('expired');
    // Forgotten once found expired; asked again, it is checked from scratch and still refused.
    expect(tokens.rememberedAccessTokens).toBe(0);
    expect(reason(() => tokens.verifyAccessToken(issued.token, subject.audience))).toBe('expired');
    expect(tokens.rememberedAccessTokens).toBe(0);
  });

  it('keeps verifying correctly past the number of tokens it remembers', () => {
    const tokens = new TokenService(secret, ttl);
    const issued = Array.from({ length: 1100 }, (_, i) => tokens.issueAccessToken({ ...subject, subject: `s${i}` }, []));
    expect(issued.map((token) => tokens.verifyAccessToken(token.token, subject.audience).sub)).toEqual(issued.map((_, i) => `s${i}`));
    // The first ones were dropped to make room; they verify from scratch.
    expect(tokens.verifyAccessToken(issued[0]!.token, subject.audience).sub).toBe('s0');
    expect(tokens.verifyAccessToken(issued[1099]!.token, subject.audience).sub).toBe('s1099');
  });
});

describe('scopes', () => {
  it('parses repository and registry scopes', () => {
    expect(parseScope('repository:team/app:pull,push')).toEqual({ type: 'repository', name: 'team/app', actions: ['pull', 'push'] });
    expect(parseScope('registry:catalog:*')).toEqual({ type: 'registry', name: 'catalog', actions: ['*'] });
    expect(formatScope({ type: 'repository', name: 'a', actions: ['pull'] })).toBe('repository:a:pull');
  });

  it.each(['', 'repository', 'repository:a', 'repository::pull', 'repository:a:', 'other:a:pull', ':a:pull'])('rejects %j', (scope) => {
    expect(parseScope(scope)).toBeUndefined();
  });
});
