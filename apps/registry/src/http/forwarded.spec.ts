import type { IncomingMessage } from 'node:http';
import { TrustedProxies } from './forwarded';

function request(remoteAddress: string, headers: Record<string, string | string[]>): IncomingMessage {
  return { socket: { remoteAddress }, headers } as unknown as IncomingMessage;
}

describe('TrustedProxies', () => {
  it('trusts listed addresses and CIDR ranges, IPv4 (also as ::ffff:) and IPv6', () => {
    const proxies = new TrustedProxies(['10.1.0.0/16', '192.0.2.7', 'fd00::/8', '::1']);
    expect(proxies.trusts('10.1.200.3')).toBe(true);
    expect(proxies.trusts('::ffff:10.1.0.9')).toBe(true);
    expect(proxies.trusts('192.0.2.7')).toBe(true);
    expect(proxies.trusts('fd12:3456::1')).toBe(true);
    expect(proxies.trusts('::1')).toBe(true);
    expect(proxies.trusts('10.2.0.1')).toBe(false);
    expect(proxies.trusts('192.0.2.8')).toBe(false);
    expect(proxies.trusts('fe80::1')).toBe(false);
    expect(proxies.trusts(undefined)).toBe(false);
    expect(proxies.trusts('not-an-address')).toBe(false);
    expect(new TrustedProxies([]).trusts('127.0.0.1')).toBe(false);
  });

  it('refuses entries that are not addresses or ranges', () => {
    for (const entry of ['proxy.internal', '10.0.0.0/33', '10.0.0.0/x', 'fd00::/129', '10.0.0.1/8/2', '']) {
      expect(() => new TrustedProxies([entry])).toThrow(/BERTH_TRUSTED_PROXIES/);
    }
  });

  it('takes host and scheme from the first X-Forwarded-* value of a trusted peer only', () => {
    const proxies = new TrustedProxies(['127.0.0.1']);
    const forwarded = { host: 'upstream:5000', 'x-forwarded-host': 'Reg.Example.test:8443, inner', 'x-forwarded-proto': 'https, http' };
    expect(proxies.originOf(request('127.0.0.1', forwarded), false)).toEqual({ host: 'reg.example.test:8443', scheme: 'https' });
    expect(proxies.originOf(request('127.0.0.2', forwarded), false)).toEqual({ host: 'upstream:5000', scheme: 'http' });
    expect(proxies.originOf(request('127.0.0.2', forwarded), true)).toEqual({ host: 'upstream:5000', scheme: 'https' });
    // A trusted proxy may also say the client used plain HTTP.
    expect(proxies.originOf(request('127.0.0.1', { host: 'a.test', 'x-forwarded-proto': 'http' }), true)).toEqual({ host: 'a.test', scheme: 'http' });
  });

  it('ignores malformed forwarded values', () => {
    const proxies = new TrustedProxies(['127.0.0.1']);
    for (const bad of ['evil"host', 'a b', 'host/path', '', ' , x']) {
      expect(proxies.originOf(request('127.0.0.1', { host: 'reg.test', 'x-forwarded-host': bad }), false).host).toBe('reg.test');
    }
    expect(proxies.originOf(request('127.0.0.1', { host: 'reg.test', 'x-forwarded-proto': 'gopher' }), false).scheme).toBe('http');
    expect(proxies.originOf(request('127.0.0.1', { host: 'reg.test', 'x-forwarded-host': '[::1]:5000' }), false).host).toBe('[::1]:5000');
  });
});
