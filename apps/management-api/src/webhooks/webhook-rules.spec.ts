import { SCOPE_PATTERN, customHeadersProblem, serviceUriProblem } from './webhook-rules';
import { maskHeaders, maskUri } from './webhooks.service';

describe('webhook scope grammar', () => {
  it.each(['', 'foo', 'foo:*', 'foo:bar', 'team/app/web:v1.2.3', '*', '*:*', 'team/*', 'a__b/c--d:x_Y-1'])('accepts %p', (scope) => {
    expect(SCOPE_PATTERN.test(scope)).toBe(true);
  });

  it.each(['Foo', 'foo:', ':tag', 'foo::bar', 'foo bar', '/foo', 'foo/', 'foo//bar', 'foo:.tag', 'foo:bar:baz', 'foo.:x', `foo:${'a'.repeat(129)}`])(
    'refuses %p',
    (scope) => {
      expect(SCOPE_PATTERN.test(scope)).toBe(false);
    },
  );
});

describe('serviceUriProblem', () => {
  it('accepts absolute http and https URLs', () => {
    expect(serviceUriProblem('https://example.com/hook')).toBeUndefined();
    expect(serviceUriProblem('http://10.0.0.1:8080/x?y=1')).toBeUndefined();
  });

  it.each([['/relative'], ['ftp://example.com/'], ['mailto:a@example.com'], ['https://'], [`https://example.com/${'x'.repeat(2048)}`], [5]])(
    'refuses %p',
    (uri) => {
      expect(serviceUriProblem(uri)).toEqual(expect.any(String));
    },
  );
});

describe('customHeadersProblem', () => {
  it('accepts token names with printable values', () => {
    expect(customHeadersProblem({ Authorization: 'Bearer x', 'X-Custom_1': 'a b\tc' })).toBeUndefined();
  });

  it.each([
    [{ 'Bad Name': 'x' }],
    [{ 'X-A': 'line\nbreak' }],
    [{ 'X-A': 'nul\u0000' }],
    [{ 'Content-Length': '1' }],
    [{ 'x-a': '1', 'X-A': '2' }],
    [{ 'X-A': 1 }],
    [null],
    [['X-A']],
  ])('refuses %p', (headers) => {
    expect(customHeadersProblem(headers)).toEqual(expect.any(String));
  });
});

describe('masking recorded deliveries', () => {
  it('masks credentials and query values in URIs', () => {
    expect(maskUri('https://u:p@h.example/x?a=1&b=2')).toBe('https://******:******@h.example/x?a=******&b=******');
    expect(maskUri('https://h.example/x')).toBe('https://h.example/x');
    expect(maskUri('')).toBe('');
  });

  it('masks Authorization and the named secret headers, case-insensitively', () => {
    expect(maskHeaders({ authorization: 'a', 'X-Key': 'k', Other: 'o' }, ['x-key'])).toEqual({
      authorization: '******',
      'X-Key': '******',
      Other: 'o',
    });
    expect(maskHeaders('not an object', [])).toEqual({});
  });
});
