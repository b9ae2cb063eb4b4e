// Does each configured resolver validate DNSSEC, and do we believe it? DANE rests on the AD
// bit of a validating resolver we can trust; a resolver that does not validate, or one whose
// answers cross a network where anyone could set the bit, makes DANE silently impossible.
// At start-up (and in `securemail check`, `/readyz`) we ask each resolver for the root SOA
// with the DO bit: the root zone is signed, so a validating resolver answers it with AD.

import { randomInt } from 'node:crypto';
import * as dnsPacket from 'dns-packet';
import { isLoopback } from '../net/address-ranges.ts';
import { exchangeUdp } from './transport.ts';
import { type AdTrust, type DnsServer, serverAddress } from './types.ts';
import { EDNS_UDP_PAYLOAD, MAX_QUERY_ID } from './wire.ts';

export interface ResolverProbe {
  /** `host:port` */
  server: string;
  /** Whether its AD bit counts (SECUREMAIL_DNS_TRUST_AD and the address). */
  trustAd: boolean;
  /** Whether it answered the probe at all. */
  answered: boolean;
  /** Whether it set AD on the signed root SOA: it validates DNSSEC. */
  validates: boolean;
  /** One line for a person: what was found and what it means. */
  summary: string;
}

/** Whether the AD bit of `server` is believed under `mode`. */
export function trustsAd(server: DnsServer, mode: AdTrust): boolean {
  return mode === 'always' || (mode === 'auto' && isLoopback(server.host));
}

export async function probeResolvers(
  servers: readonly DnsServer[],
  mode: AdTrust,
  timeoutMs: number,
): Promise<ResolverProbe[]> {
  const probes = await Promise.all(servers.map((server) => probeOne(server, mode, timeoutMs)));
  // The client asks only the trusted resolvers when there are any (client.ts `asked`).
  if (probes.some((probe) => probe.trustAd)) {
    for (const probe of probes) {
      if (!probe.trustAd) {
        probe.summary += '; not asked: a resolver whose AD bit is trusted is configured';
      }
    }
  }
  return probes;
}

async function probeOne(
  server: DnsServer,
  mode: AdTrust,
  timeoutMs: number,
): Promise<ResolverProbe> {
  const address = serverAddress(server);
  const trustAd = trustsAd(server, mode);
  const id = randomInt(0, MAX_QUERY_ID + 1);
  const query = dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED | dnsPacket.AUTHENTIC_DATA,
    questions: [{ name: '.', type: 'SOA', class: 'IN' }],
    additionals: [
      {
        name: '.',
        type: 'OPT',
        udpPayloadSize: EDNS_UDP_PAYLOAD,
        extendedRcode: 0,
        ednsVersion: 0,
        flags: dnsPacket.DNSSEC_OK,
        flag_do: true,
        options: [],
      },
    ],
  });
  const parse = (message: Buffer): dnsPacket.DecodedPacket | undefined => {
    try {
      const packet = dnsPacket.decode(message);
      return packet.id === id && packet.flag_qr ? packet : undefined;
    } catch {
      return undefined;
    }
  };
  const result = await exchangeUdp(server, query, parse, timeoutMs, new AbortController().signal);
  const trustNote = trustAd
    ? 'its AD bit is trusted'
    : mode === 'never'
      ? 'its AD bit is not trusted (SECUREMAIL_DNS_TRUST_AD=never)'
      : 'its AD bit is not trusted: it is not on a loopback address (set SECUREMAIL_DNS_TRUST_AD=always only if the network path to it is protected)';
  if (result.kind !== 'reply') {
    const what =
      result.kind === 'timeout'
        ? `did not answer within ${timeoutMs} ms`
        : `could not be asked (${(result.error as NodeJS.ErrnoException).code ?? result.error.message})`;
    return {
      server: address,
      trustAd,
      answered: false,
      validates: false,
      summary: `${address} ${what}; ${trustNote}`,
    };
  }
  const validates = result.reply.flag_ad;
  const found = validates
    ? 'validates DNSSEC (AD on the signed root)'
    : 'does NOT validate DNSSEC (no AD on the signed root)';
  return {
    server: address,
    trustAd,
    answered: true,
    validates,
    summary: `${address} ${found}; ${trustNote}`,
  };
}

/** Whether DANE can work with these resolvers: at least one both validates and is trusted. */
export function daneAvailable(probes: readonly ResolverProbe[]): boolean {
  return probes.some((probe) => probe.trustAd && probe.validates);
}
