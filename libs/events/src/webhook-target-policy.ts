import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';

/**
 * Where webhooks may be sent. A webhook URI is chosen by a registry owner,
 * so delivering to it must not let that owner reach the installation's own
 * network: cloud metadata endpoints and link-local addresses are always
 * refused; private ranges and loopback only when the operator allows them.
 * The worker resolves the host once, checks every address, and connects to
 * the checked address (no second lookup a DNS rebind could change).
 */
export type AddressClass =
  | 'public'
  | 'private'
  | 'loopback'
  | 'link-local'
  | 'metadata'
  | 'unspecified'
  | 'multicast'
  | 'reserved';

export interface TargetPolicy {
  allowPrivateTargets: boolean;
  allowLoopbackTargets: boolean;
}

export type TargetCheck =
  | { allowed: true; url: URL; address: string; family: 4 | 6 }
  | { allowed: false; reason: string };

/** Resolves a host name to its addresses (injectable for tests). */
export type HostResolver = (host: string) => Promise<Array<{ address: string; family: number }>>;

const defaultResolver: HostResolver = (host) => dnsLookup(host, { all: true, verbatim: true });

/** Classifies an IPv4 or IPv6 literal; throws on anything else. */
export function classifyAddress(address: string): AddressClass {
  const version = isIP(address);
  if (version === 4) return classifyV4(parseV4(address));
  if (version === 6) return classifyV6(parseV6(address));
  throw new Error(`not an IP address: ${address}`);
}

/** Whether the policy lets a delivery go to an address of this class. */
export function isAddressAllowed(cls: AddressClass, policy: TargetPolicy): boolean {
  switch (cls) {
    case 'public':
      return true;
    case 'private':
      return policy.allowPrivateTargets;
    case 'loopback':
      return policy.allowLoopbackTargets;
    default:
      return false;
  }
}

/**
 * Checks a webhook URI against the policy: http(s) only, every resolved
 * address allowed. Returns the address to connect to.
 */
export async function checkWebhookTarget(
  uri: string,
  policy: TargetPolicy,
  resolve: HostResolver = defaultResolver,
): Promise<TargetCheck> {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return { allowed: false, reason: 'the service URI is not a valid URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { allowed: false, reason: `scheme ${url.protocol.replace(':', '')} is not allowed (http or https only)` };
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  let addresses: Array<{ address: string; family: number }>;
  if (isIP(host)) {
    addresses = [{ address: host, family: isIP(host) }];
  } else {
    try {
      addresses = await resolve(host);
    } catch (err) {
      return { allowed: false, reason: `cannot resolve ${host}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` };
    }
    if (addresses.length === 0) return { allowed: false, reason: `cannot resolve ${host}: no addresses` };
  }
  for (const { address } of addresses) {
    const cls = classifyAddress(address);
    if (!isAddressAllowed(cls, policy)) {
      return { allowed: false, reason: `target ${host} resolves to ${address}, a ${cls} address, which the webhook target policy refuses` };
    }
  }
  const first = addresses[0]!;
  return { allowed: true, url, address: first.address, family: first.family === 6 ? 6 : 4 };
}

function parseV4(address: string): number[] {
  return address.split('.').map((part) => Number(part));
}

function classifyV4(b: number[]): AddressClass {
  const [a, b1, b2, b3] = b as [number, number, number, number];
  if (a === 100 && b1 === 100 && b2 === 100 && b3 === 200) return 'metadata'; // Alibaba Cloud
  if (a === 169 && b1 === 254) return b2 === 169 && b3 === 254 ? 'metadata' : 'link-local';
  if (a === 0) return 'unspecified';
  if (a === 127) return 'loopback';
  if (a === 10) return 'private';
  if (a === 172 && b1 >= 16 && b1 <= 31) return 'private';
  if (a === 192 && b1 === 168) return 'private';
  if (a === 100 && b1 >= 64 && b1 <= 127) return 'private'; // carrier-grade NAT
  if (a === 198 && (b1 === 18 || b1 === 19)) return 'private'; // benchmarking
  if (a === 192 && b1 === 0 && b2 === 0) return 'reserved'; // IETF protocol assignments
  if (a >= 224 && a <= 239) return 'multicast';
  if (a >= 240) return 'reserved';
  return 'public';
}

/** Parses an IPv6 literal (with optional embedded IPv4 and zone) into 16 bytes. */
function parseV6(address: string): number[] {
  let text = address.toLowerCase().replace(/%.*$/, '');
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [, a, b, c, d] = v4.map(Number) as [number, number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split('::');
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length > 1 && halves[1] ? halves[1].split(':') : [];
  const fill = halves.length > 1 ? Array<string>(8 - head.length - tail.length).fill('0') : [];
  const bytes: number[] = [];
  for (const group of [...head, ...fill, ...tail]) {
    const value = parseInt(group, 16);
    bytes.push((value >> 8) & 0xff, value & 0xff);
  }
  return bytes;
}

function classifyV6(b: number[]): AddressClass {
  const zeroUpTo = (n: number) => b.slice(0, n).every((x) => x === 0);
  if (zeroUpTo(16)) return 'unspecified';
  if (zeroUpTo(15) && b[15] === 1) return 'loopback';
  // IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::/96) carry an IPv4 target.
  if (zeroUpTo(10) && b[10] === 0xff && b[11] === 0xff) return classifyV4(b.slice(12));
  if (zeroUpTo(12)) return classifyV4(b.slice(12));
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && b.slice(4, 12).every((x) => x === 0)) {
    return classifyV4(b.slice(12));
  }
  // 6to4 (2002:V4ADDR::/48) reaches the embedded IPv4 address.
  if (b[0] === 0x20 && b[1] === 0x02) return classifyV4(b.slice(2, 6));
  // AWS's IPv6 metadata endpoint, fd00:ec2::254.
  if (b[0] === 0xfd && b[1] === 0x00 && b[2] === 0x0e && b[3] === 0xc2 && b.slice(4, 14).every((x) => x === 0) && b[14] === 0x02 && b[15] === 0x54) {
    return 'metadata';
  }
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0x80) return 'link-local';
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0xc0) return 'private'; // deprecated site-local
  if ((b[0]! & 0xfe) === 0xfc) return 'private'; // unique local fc00::/7
  if (b[0] === 0xff) return 'multicast';
  if (b[0] === 0x20 && b[1] === 0x01 && b[2] === 0x0d && b[3] === 0xb8) return 'reserved'; // documentation
  return 'public';
}
