// A `lookup` for net/https connections that asks OUR resolver instead of the system's, so
// the MTA-STS fetch uses the same (trusted, configured) DNS as everything else, tests can
// point `mta-sts.<domain>` at 127.0.0.1, and addresses outside the internet are never used.
import type { LookupAddress, LookupOptions } from 'node:dns';
import { isIPv6 } from 'node:net';
import type { DnsAnswer, Resolver } from '../dns/types.ts';
import type { AddressPolicy } from '../net/address-ranges.ts';

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * Errors carry the codes Node's own lookup uses, so callers can tell a passing failure
 * (EAI_AGAIN: DNS failed now) from a lasting one (ENOTFOUND: no address;
 * EADDRFORBIDDEN, ours: only addresses we never connect to).
 */
export function lookupVia(resolver: Resolver, policy: AddressPolicy) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    resolveAll(resolver, hostname).then(
      (found) => {
        if ('error' in found) {
          callback(found.error, '');
          return;
        }
        const allowed = found.addresses.filter((a) => policy.refusal(a.address) === undefined);
        const first = allowed[0];
        if (!first) {
          const refused = found.addresses
            .map((a) => `${a.address} (${policy.refusal(a.address)})`)
            .join(', ');
          callback(
            refused === ''
              ? lookupError('ENOTFOUND', `no address for ${hostname}`)
              : lookupError(
                  'EADDRFORBIDDEN',
                  `${hostname} resolves only to addresses outside the public internet: ${refused}`,
                ),
            '',
          );
          return;
        }
        if (options.all) callback(null, allowed);
        else callback(null, first.address, first.family);
      },
      (error: Error) => callback(error, ''),
    );
  };
}

function lookupError(code: string, message: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(message);
  error.code = code;
  return error;
}

function failed(answer: DnsAnswer): boolean {
  return answer.outcome === 'servfail' || answer.outcome === 'timeout';
}

async function resolveAll(
  resolver: Resolver,
  hostname: string,
): Promise<{ addresses: LookupAddress[] } | { error: NodeJS.ErrnoException }> {
  const [a, aaaa] = await Promise.all([
    resolver.query(hostname, 'A'),
    resolver.query(hostname, 'AAAA'),
  ]);
  const failure = [a, aaaa].find(failed);
  if (failure) {
    return {
      error: lookupError(
        'EAI_AGAIN',
        `${failure.type} lookup for ${hostname}: ${failure.problem ?? failure.outcome}`,
      ),
    };
  }
  const addresses = [...a.records, ...aaaa.records].map((address) => ({
    address,
    family: isIPv6(address) ? 6 : 4,
  }));
  return { addresses };
}
