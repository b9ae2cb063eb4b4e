// Where a webhook may be posted: HTTPS only, and (unless the operator allows it) never to
// an address of the service's own networks: loopback, private, link-local, unique-local,
// carrier-grade NAT and other special-purpose ranges (RFC 6890 registries). The host is
// resolved and EVERY address checked; the connection is then pinned to the checked address,
// so DNS cannot answer differently between the check and the connection (DNS rebinding).

import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Resolver } from '../dns/index.ts';

export const MAX_WEBHOOK_URL_LENGTH = 2048;

/** Every address of a host name (A and AAAA). Empty when it has none. */
export type HostLookup = (host: string) => Promise<string[]>;

export interface WebhookTarget {
  url: URL;
  /** The host name (or IP literal, without brackets) the certificate must match. */
  host: string;
  port: number;
  /** The checked address the connection goes to. */
  address: string;
  family: 4 | 6;
}

export type TargetCheck = { ok: true; target: WebhookTarget } | { ok: false; problem: string };

export interface TargetOptions {
  allowPrivate: boolean;
  lookup: HostLookup;
}

/** The operating system's resolver. */
export const systemLookup: HostLookup = async (host) =>
  (await dnsLookup(host, { all: true, verbatim: true })).map((a) => a.address);

/** Asks the service's configured resolvers (src/dns). */
export function resolverLookup(resolver: Resolver): HostLookup {
  return async (host) => {
    const [a, aaaa] = await Promise.all([resolver.query(host, 'A'), resolver.query(host, 'AAAA')]);
    for (const answer of [a, aaaa]) {
      if (answer.outcome === 'servfail' || answer.outcome === 'timeout') {
        throw new Error(`DNS ${answer.outcome} for ${host}`);
      }
    }
    return [...a.records, ...aaaa.records];
  };
}

const V4_FORBIDDEN: readonly [string, number, string][] = [
  ['0.0.0.0', 8, 'this network'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'carrier-grade NAT'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'IETF protocol assignments'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.88.99.0', 24, '6to4 relay anycast'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
];

const V6_FORBIDDEN: readonly [string, number, string][] = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['100::', 64, 'discard'],
  ['2001::', 23, 'IETF protocol assignments'],
  ['2001:db8::', 32, 'documentation'],
  ['fc00::', 7, 'unique-local'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'site-local'],
  ['ff00::', 8, 'multicast'],
];

/** Why `ip` must not be a webhook target, or undefined when it is a public address. */
export function forbiddenRange(ip: string): string | undefined {
  const family = isIP(ip);
  if (family === 4) return v4Range(v4Bytes(ip));
  if (family !== 6) return 'not an IP address';
  const bytes = v6Bytes(ip);
  // IPv4 inside IPv6 reaches the IPv4 address: mapped (::ffff:0:0/96), compatible (::/96),
  // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) are judged by the address they carry.
  const embedded = embeddedV4(bytes);
  if (embedded !== undefined) return v4Range(embedded) ?? undefined;
  for (const [prefix, bits, name] of V6_FORBIDDEN) {
    if (matches(bytes, v6Bytes(prefix), bits)) return name;
  }
  return undefined;
}

function v4Range(bytes: number[]): string | undefined {
  for (const [prefix, bits, name] of V4_FORBIDDEN) {
    if (matches(bytes, v4Bytes(prefix), bits)) return name;
  }
  return undefined;
}

function embeddedV4(b: number[]): number[] | undefined {
  const zeros = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  const tail = b.slice(12, 16);
  if (zeros(0, 10) && b[10] === 0xff && b[11] === 0xff) return tail;
  if (zeros(0, 12) && !zeros(12, 16) && !(zeros(12, 15) && b[15]! <= 1)) return tail;
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zeros(4, 12)) return tail;
  if (b[0] === 0x20 && b[1] === 0x02) return b.slice(2, 6);
  return undefined;
}

function matches(bytes: number[], prefix: number[], bits: number): boolean {
  for (let i = 0; i < bits; i++) {
    const mask = 0x80 >> (i % 8);
    if (((bytes[i >> 3] ?? 0) & mask) !== ((prefix[i >> 3] ?? 0) & mask)) return false;
  }
  return true;
}

function v4Bytes(ip: string): number[] {
  return ip.split('.').map(Number);
}

function v6Bytes(ip: string): number[] {
  let text = ip.toLowerCase().replace(/%.*$/, '');
  // A trailing dotted quad becomes two groups.
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (quad?.[1] !== undefined) {
    const [a, b, c, d] = v4Bytes(quad[1]);
    text = `${text.slice(0, -quad[1].length)}${((a! << 8) | b!).toString(16)}:${((c! << 8) | d!).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return groups.flatMap((g) => {
    const n = Number.parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
}

/** Checks a URL as a webhook target and picks the address to connect to. */
export async function checkWebhookUrl(text: string, options: TargetOptions): Promise<TargetCheck> {
  if (text.length > MAX_WEBHOOK_URL_LENGTH) {
    return { ok: false, problem: `the URL is longer than ${MAX_WEBHOOK_URL_LENGTH} characters` };
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, problem: 'not a valid URL' };
  }
  if (url.protocol !== 'https:') return { ok: false, problem: 'the URL must use https' };
  if (url.username !== '' || url.password !== '') {
    return { ok: false, problem: 'the URL must not contain a user name or password' };
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = url.port === '' ? 443 : Number(url.port);
  let addresses: string[];
  if (isIP(host) !== 0) {
    addresses = [host];
  } else {
    try {
      addresses = await options.lookup(host);
    } catch (error) {
      return {
        ok: false,
        problem: `the host name could not be resolved: ${(error as Error).message}`,
      };
    }
    if (addresses.length === 0) return { ok: false, problem: 'the host name has no address' };
  }
  if (!options.allowPrivate) {
    for (const address of addresses) {
      const range = forbiddenRange(address);
      if (range !== undefined) {
        return {
          ok: false,
          problem: `the host resolves to ${address}, a ${range} address; webhooks must reach a public address`,
        };
      }
    }
  }
  const address = addresses[0]!;
  return { ok: true, target: { url, host, port, address, family: isIP(address) === 6 ? 6 : 4 } };
}
