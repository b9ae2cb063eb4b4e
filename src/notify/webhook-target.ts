// Where a webhook may be posted: HTTPS only, and (unless the operator allows it) never to
// an address of the service's own networks: loopback, private, link-local, unique-local,
// carrier-grade NAT and other special-purpose ranges (RFC 6890 registries). The host is
// resolved and EVERY address checked; the connection is then pinned to the checked address,
// so DNS cannot answer differently between the check and the connection (DNS rebinding).

import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Resolver } from '../dns/index.ts';
import { nonPublicRange } from '../net/address-ranges.ts';

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
      const range = nonPublicRange(address);
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
