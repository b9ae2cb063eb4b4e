// Which IP addresses are "the internet". Outbound SMTP, the MTA-STS policy fetch and webhooks
// connect to addresses that come from DNS or from a tenant, so an attacker who controls a
// zone or a webhook URL could point them at the service's own networks (loopback, the cloud
// metadata address, an internal mail relay). One classifier decides for all of them, from the
// IANA special-purpose address registries (RFC 6890 and its updates): an address in any of
// those ranges is never connected to unless the operator allowed its network.

import { isIP } from 'node:net';

type Bytes = readonly number[];

interface Range {
  prefix: Bytes;
  bits: number;
  name: string;
}

function range(prefix: string, bits: number, name: string): Range {
  return { prefix: addressBytes(prefix), bits, name };
}

const V4_SPECIAL: readonly Range[] = [
  range('0.0.0.0', 8, 'this network'),
  range('10.0.0.0', 8, 'private'),
  range('100.64.0.0', 10, 'carrier-grade NAT'),
  range('127.0.0.0', 8, 'loopback'),
  range('169.254.0.0', 16, 'link-local'),
  range('172.16.0.0', 12, 'private'),
  range('192.0.0.0', 24, 'IETF protocol assignments'),
  range('192.0.2.0', 24, 'documentation'),
  range('192.88.99.0', 24, '6to4 relay anycast'),
  range('192.168.0.0', 16, 'private'),
  range('198.18.0.0', 15, 'benchmarking'),
  range('198.51.100.0', 24, 'documentation'),
  range('203.0.113.0', 24, 'documentation'),
  range('224.0.0.0', 4, 'multicast'),
  range('240.0.0.0', 4, 'reserved'),
];

// Only 2000::/3 is global unicast; everything outside it is named by the first match here,
// and the rest of it is 'reserved'. Inside 2000::/3 a few ranges are special too.
const V6_SPECIAL: readonly Range[] = [
  range('::', 128, 'unspecified'),
  range('::1', 128, 'loopback'),
  range('::ffff:0:0:0', 96, 'IPv4-translated'),
  range('64:ff9b:1::', 48, 'local-use NAT64'),
  range('100::', 64, 'discard'),
  range('2001::', 23, 'IETF protocol assignments'),
  range('2001:db8::', 32, 'documentation'),
  range('3fff::', 20, 'documentation'),
  range('5f00::', 16, 'segment routing'),
  range('fc00::', 7, 'unique-local'),
  range('fe80::', 10, 'link-local'),
  range('fec0::', 10, 'site-local'),
  range('ff00::', 8, 'multicast'),
];

const GLOBAL_UNICAST_V6 = range('2000::', 3, 'global unicast');

/**
 * Why `ip` is not a public internet address (the range's name), or undefined when it is.
 * IPv6 forms that carry an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible,
 * NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) reach that IPv4 address and are judged by it.
 * Anything that is not an IP address at all is refused too.
 */
export function nonPublicRange(ip: string): string | undefined {
  const bytes = parseAddress(ip);
  if (bytes === undefined) return 'not an IP address';
  if (bytes.length === 4) return firstMatch(bytes, V4_SPECIAL);
  const embedded = embeddedV4(bytes);
  if (embedded !== undefined) return firstMatch(embedded, V4_SPECIAL);
  const special = firstMatch(bytes, V6_SPECIAL);
  if (special !== undefined) return special;
  return inRange(bytes, GLOBAL_UNICAST_V6) ? undefined : 'reserved';
}

/** A network given as CIDR (`10.0.0.0/8`, `fd00::/8`) or a single address. */
export interface Network {
  text: string;
  prefix: Bytes;
  bits: number;
}

/** Parses one CIDR; throws an Error that names the entry when it is not one. */
export function parseNetwork(text: string): Network {
  const entry = text.trim();
  const [address = '', bitsText, extra] = entry.split('/');
  const bytes = parseAddress(address);
  if (bytes === undefined || extra !== undefined) {
    throw new Error(`"${entry}" is not a network (use a.b.c.d/n or ipv6/n)`);
  }
  const max = bytes.length * 8;
  const bits = bitsText === undefined ? max : /^\d{1,3}$/.test(bitsText) ? Number(bitsText) : -1;
  if (!(bits >= 0 && bits <= max)) {
    throw new Error(`"${entry}": the prefix length must be a number from 0 to ${max}`);
  }
  return { text: entry, prefix: bytes, bits };
}

/** A comma-separated list of networks; empty text is an empty list. */
export function parseNetworkList(text: string): Network[] {
  return text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map(parseNetwork);
}

/**
 * What outbound connections may reach: public addresses, plus the networks the operator
 * allowed (private deployments, test networks). Built once from the configuration.
 */
export class AddressPolicy {
  readonly allowed: readonly Network[];

  constructor(allowed: readonly (Network | string)[] = []) {
    this.allowed = allowed.map((n) => (typeof n === 'string' ? parseNetwork(n) : n));
  }

  /** Why a connection to `ip` is not allowed, or undefined when it is. */
  refusal(ip: string): string | undefined {
    const range = nonPublicRange(ip);
    if (range === undefined) return undefined;
    const bytes = parseAddress(ip);
    if (bytes !== undefined && this.#allows(bytes)) return undefined;
    return range;
  }

  #allows(bytes: Bytes): boolean {
    const embedded = bytes.length === 16 ? embeddedV4(bytes) : undefined;
    return this.allowed.some(
      (network) =>
        inNetwork(bytes, network) || (embedded !== undefined && inNetwork(embedded, network)),
    );
  }
}

function inNetwork(bytes: Bytes, network: Network): boolean {
  return bytes.length === network.prefix.length && matches(bytes, network.prefix, network.bits);
}

function firstMatch(bytes: Bytes, ranges: readonly Range[]): string | undefined {
  return ranges.find((r) => inRange(bytes, r))?.name;
}

function inRange(bytes: Bytes, r: Range): boolean {
  return bytes.length === r.prefix.length && matches(bytes, r.prefix, r.bits);
}

function matches(bytes: Bytes, prefix: Bytes, bits: number): boolean {
  for (let i = 0; i < bits; i++) {
    const mask = 0x80 >> (i % 8);
    if (((bytes[i >> 3] ?? 0) & mask) !== ((prefix[i >> 3] ?? 0) & mask)) return false;
  }
  return true;
}

/** The IPv4 address an IPv6 address carries and would reach, if any. */
function embeddedV4(b: Bytes): Bytes | undefined {
  const zeros = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  const tail = b.slice(12, 16);
  // ::ffff:a.b.c.d (mapped)
  if (zeros(0, 10) && b[10] === 0xff && b[11] === 0xff) return tail;
  // ::a.b.c.d (the deprecated IPv4-compatible form; :: and ::1 are not)
  if (zeros(0, 12) && !(zeros(12, 15) && (b[15] ?? 0) <= 1)) return tail;
  // 64:ff9b::a.b.c.d (well-known NAT64 prefix, RFC 6052)
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zeros(4, 12)) return tail;
  // 2002:aabb:ccdd::/48 (6to4, RFC 3056)
  if (b[0] === 0x20 && b[1] === 0x02) return b.slice(2, 6);
  return undefined;
}

/** 4 or 16 bytes, or undefined when `ip` is not an IP address (a zone id is ignored). */
export function parseAddress(ip: string): number[] | undefined {
  const bare = ip.replace(/%.*$/, '');
  const family = isIP(bare);
  if (family === 4) return bare.split('.').map(Number);
  if (family !== 6) return undefined;
  let text = bare.toLowerCase();
  // A trailing dotted quad becomes two groups.
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (quad?.[1] !== undefined) {
    const [a = 0, b = 0, c = 0, d = 0] = quad[1].split('.').map(Number);
    text = `${text.slice(0, -quad[1].length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups.flatMap((g) => {
    const n = Number.parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
}

function addressBytes(ip: string): number[] {
  const bytes = parseAddress(ip);
  if (bytes === undefined) throw new TypeError(`not an IP address: ${ip}`);
  return bytes;
}

/** Loopback addresses: 127.0.0.0/8, ::1 and their mapped forms. Used for resolver trust. */
export function isLoopback(ip: string): boolean {
  return nonPublicRange(ip) === 'loopback';
}
