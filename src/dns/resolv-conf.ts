// The system's resolvers from /etc/resolv.conf, used when the operator configured none.

import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { DNS_PORT } from './server-list.ts';
import type { DnsServer } from './types.ts';

export const RESOLV_CONF_PATH = '/etc/resolv.conf';
/** What the C library uses when resolv.conf names no server. */
export const FALLBACK_SERVERS: readonly DnsServer[] = [{ host: '127.0.0.1', port: DNS_PORT }];

/** The `nameserver` lines of a resolv.conf text, in order; lines that are not IP addresses are skipped. */
export function readResolvConf(text: string): DnsServer[] {
  const servers: DnsServer[] = [];
  for (const line of text.split(/\r?\n/)) {
    const [keyword, address] = line
      .replace(/[#;].*$/, '')
      .trim()
      .split(/\s+/);
    if (keyword === 'nameserver' && address !== undefined && isIP(address) !== 0) {
      servers.push({ host: address, port: DNS_PORT });
    }
  }
  return servers;
}

/** The servers of resolv.conf at `path`, or the local host when there are none or it cannot be read. */
export function defaultServers(path: string = RESOLV_CONF_PATH): DnsServer[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return FALLBACK_SERVERS.map((server) => ({ ...server }));
  }
  const servers = readResolvConf(text);
  return servers.length > 0 ? servers : FALLBACK_SERVERS.map((server) => ({ ...server }));
}
