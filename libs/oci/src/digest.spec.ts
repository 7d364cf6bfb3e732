import { createHash } from 'node:crypto';
import { Digester, digestOf, parseDigest } from './digest';

describe('parseDigest', () => {
  it('accepts sha256 and sha512 with lower-case hex of the right length', () => {
    expect(parseDigest(`sha256:${'0'.repeat(64)}`)).toEqual({ algorithm: 'sha256', hex: '0'.repeat(64), digest: `sha256:${'0'.repeat(64)}` });
    expect(parseDigest(`sha512:${'f'.repeat(128)}`)?.algorithm).toBe('sha512');
  });

  it.each([
    `sha256:${'0'.repeat(63)}`,
    `sha256:${'0'.repeat(65)}`,
    `sha256:${'A'.repeat(64)}`,
    `sha512:${'0'.repeat(64)}`,
    `md5:${'0'.repeat(32)}`,
    `SHA256:${'0'.repeat(64)}`,
    `sha256:${'g'.repeat(64)}`,
    'sha256:',
    'latest',
    '',
    `sha256:${'0'.repeat(64)}\n`,
  ])('rejects %j', (value) => {
    expect(parseDigest(value)).toBeUndefined();
  });
});

describe('Digester', () => {
  it('matches a one-shot hash when fed in chunks, and keeps going after digest()', () => {
    const data = Buffer.from('hello, registry world');
    const digester = Digester.create();
    digester.update(data.subarray(0, 5));
    const partial = digester.digest();
    expect(partial).toBe(digestOf(data.subarray(0, 5)));
    digester.update(data.subarray(5));
    expect(digester.digest()).toBe(`sha256:${createHash('sha256').update(data).digest('hex')}`);
    expect(digester.size).toBe(data.length);
  });

  it('copies are independent', () => {
    const original = Digester.create('sha512').update(Buffer.from('ab'));
    const copy = original.copy();
    copy.update(Buffer.from('c'));
    expect(original.digest()).toBe(digestOf('ab', 'sha512'));
    expect(copy.digest()).toBe(digestOf('abc', 'sha512'));
    expect(copy.size).toBe(3);
  });
});
