// Parses the operator's list of resolvers, e.g. the SECUREMAIL_DNS_SERVERS setting:
// `host[:port],host[:port]`, IPv6 as `[::1]:53` (or bare `::1` without a port).

import { isIPv4, isIPv6 } from 'node:net';
import type { DnsServer } from './types.ts';

export const DNS_PORT = 53;
const MAX_PORT = 65535;

const BRACKETED = /^\[([^\]]+)\](?::([^:]*))?$/;
const IPV4_WITH_PORT = /^([^:]+)(?::([^:]*))?$/;

/** Throws an Error naming the bad entry when `text` is not a valid, non-empty list. */
export function parseServerList(text: string): DnsServer[] {
  if (text.trim() === '') throw new Error('DNS server list is empty');
  return text.split(',').map((raw) => parseEntry(raw.trim(), text));
}

function parseEntry(entry: string, whole: string): DnsServer {
  if (entry === '') throw new Error(`DNS server list has an empty entry: "${whole}"`);
  const bracketed = BRACKETED.exec(entry);
  if (bracketed) {
    const host = bracketed[1] ?? '';
    if (!isIPv6(host)) {
      throw new Error(`DNS server "${entry}": only IPv6 addresses go in brackets`);
    }
    return { host, port: parsePort(bracketed[2], entry) };
  }
  if (isIPv6(entry)) return { host: entry, port: DNS_PORT };
  const plain = IPV4_WITH_PORT.exec(entry);
  const host = plain?.[1] ?? entry;
  if (!plain || !isIPv4(host)) {
    // A resolver given by name would need DNS to be found, and that lookup could not be
    // trusted for the AD bit.
    throw new Error(
      `DNS server "${entry}" is not an IP address (use a.b.c.d[:port] or [ipv6][:port])`,
    );
  }
  return { host, port: parsePort(plain[2], entry) };
}

function parsePort(text: string | undefined, entry: string): number {
  if (text === undefined) return DNS_PORT;
  const port = /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (!(port >= 1 && port <= MAX_PORT)) {
    throw new Error(`DNS server "${entry}": port must be a number from 1 to ${MAX_PORT}`);
  }
  return port;
}
