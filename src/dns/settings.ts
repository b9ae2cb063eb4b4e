// The DNS client's settings: which resolvers every question goes to, how long one query may
// take, and whose AD bit is believed; and the one way the service, the API and the CLI make
// a client from them, so all of them believe DNSSEC alike.

import { ConfigError, custom, integer, oneOf } from '../settings.ts';
import {
  createResolver,
  DEFAULT_TIMEOUT_MS,
  type DnsClient,
  type ResolverOptions,
} from './client.ts';
import { defaultServers } from './resolv-conf.ts';
import { parseServerList } from './server-list.ts';
import { AD_TRUST_MODES, type AdTrust, type DnsServer } from './types.ts';

export const DNS_SETTINGS = {
  dnsServers: custom('SECUREMAIL_DNS_SERVERS', {
    doc: 'Resolvers',
    shownDefault: '`/etc/resolv.conf`',
    parse: (text): DnsServer[] => {
      try {
        return text === undefined ? defaultServers() : parseServerList(text);
      } catch (error) {
        throw new ConfigError('SECUREMAIL_DNS_SERVERS', (error as Error).message);
      }
    },
  }),
  dnsTimeoutMs: integer('SECUREMAIL_DNS_TIMEOUT_MS', {
    default: DEFAULT_TIMEOUT_MS,
    min: 10,
    max: 60_000,
    doc: 'Timeout of one query to one resolver',
  }),
  dnsTrustAd: oneOf('SECUREMAIL_DNS_TRUST_AD', AD_TRUST_MODES, {
    default: 'auto',
    doc: 'Whose AD bit',
  }),
};

export interface DnsSettings {
  /** The resolvers asked for every DNS lookup (SECUREMAIL_DNS_SERVERS; default: resolv.conf). */
  dnsServers: DnsServer[];
  /** Per query to one resolver. */
  dnsTimeoutMs: number;
  /** Whose AD bit marks DNSSEC-secure data (SECUREMAIL_DNS_TRUST_AD); see AdTrust. */
  dnsTrustAd: AdTrust;
}

/**
 * A DNS client on the configured resolvers with the configured AD trust: the one way the
 * service, the API and the CLI make one, so all of them believe DNSSEC alike.
 */
export function configuredResolver(
  settings: DnsSettings,
  options: Pick<ResolverOptions, 'cache' | 'onFailure'> = {},
): DnsClient {
  return createResolver({
    servers: settings.dnsServers,
    timeoutMs: settings.dnsTimeoutMs,
    trustAd: settings.dnsTrustAd,
    ...options,
  });
}
