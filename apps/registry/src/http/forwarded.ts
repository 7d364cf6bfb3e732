import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';

/** How the client reached us: the Host it asked for and the scheme, possibly as a trusted proxy reports them. */
export interface ClientOrigin {
  /** Lower-case, port kept when there is one. */
  host: string;
  scheme: 'http' | 'https';
}

const HOST_PATTERN = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.?|\[[0-9a-f:.]+\])(?::\d{1,5})?$/;

/**
 * The proxies (BERTH_TRUSTED_PROXIES: addresses or CIDR ranges, IPv4 or
 * IPv6) whose X-Forwarded-Host and X-Forwarded-Proto describe the client's
 * request. Anyone else could forge them, so they are ignored from any other
 * peer: the realm of the token challenge, the login server the request is
 * routed to and the hostname in events all come from them.
 */
export class TrustedProxies {
  private readonly list = new BlockList();
  private readonly empty: boolean;

  /** Throws on an entry that is neither an IP address nor a CIDR range, so a typo fails at start, not silently. */
  constructor(entries: readonly string[]) {
    this.empty = entries.length === 0;
    for (const entry of entries) {
      const [address, prefix, extra] = entry.split('/');
      const family = isIP(address ?? '');
      if (family === 0 || extra !== undefined) throw new Error(`BERTH_TRUSTED_PROXIES: "${entry}" is not an IP address or CIDR range`);
      const type = family === 4 ? 'ipv4' : 'ipv6';
      if (prefix === undefined) {
        this.list.addAddress(address!, type);
        continue;
      }
      const bits = Number(prefix);
      if (!/^\d{1,3}$/.test(prefix) || bits > (family === 4 ? 32 : 128)) {
        throw new Error(`BERTH_TRUSTED_PROXIES: "${entry}" has an invalid prefix length`);
      }
      this.list.addSubnet(address!, bits, type);
    }
  }

  trusts(remoteAddress: string | undefined): boolean {
    if (this.empty || !remoteAddress) return false;
    // An IPv4 peer on a dual-stack socket appears as ::ffff:a.b.c.d.
    const address = remoteAddress.startsWith('::ffff:') && isIP(remoteAddress.slice(7)) === 4 ? remoteAddress.slice(7) : remoteAddress;
    const family = isIP(address);
    if (family === 0) return false;
    return this.list.check(address, family === 4 ? 'ipv4' : 'ipv6');
  }

  /**
   * Host and scheme of a request: the socket's (Host header; https when
   * this server terminates TLS), overridden by the first X-Forwarded-Host /
   * X-Forwarded-Proto value (the one the outermost proxy wrote) when the
   * peer is trusted and the value is well-formed.
   */
  originOf(req: IncomingMessage, tls: boolean): ClientOrigin {
    const origin: ClientOrigin = { host: (req.headers.host ?? '').toLowerCase(), scheme: tls ? 'https' : 'http' };
    if (!this.trusts(req.socket.remoteAddress)) return origin;
    const forwardedHost = firstValue(req.headers['x-forwarded-host'])?.toLowerCase();
    if (forwardedHost && HOST_PATTERN.test(forwardedHost)) origin.host = forwardedHost;
    const forwardedProto = firstValue(req.headers['x-forwarded-proto'])?.toLowerCase();
    if (forwardedProto === 'https' || forwardedProto === 'http') origin.scheme = forwardedProto;
    return origin;
  }
}

/** The first element of a comma-separated header (repeated headers arrive joined by commas). */
function firstValue(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined) return undefined;
  const first = value.split(',')[0]!.trim();
  return first === '' ? undefined : first;
}
