// A `lookup` for net/https connections that asks OUR resolver instead of the system's, so
// the MTA-STS fetch uses the same (trusted, configured) DNS as everything else, and tests
// can point `mta-sts.<domain>` at 127.0.0.1.
import type { LookupAddress, LookupOptions } from 'node:dns';
import type { Resolver } from '../dns/types.ts';

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

export function lookupVia(resolver: Resolver) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    resolveAll(resolver, hostname).then(
      (addresses) => {
        const first = addresses[0];
        if (!first) {
          const error: NodeJS.ErrnoException = new Error(`no address for ${hostname}`);
          error.code = 'ENOTFOUND';
          callback(error, '');
          return;
        }
        if (options.all) callback(null, addresses);
        else callback(null, first.address, first.family);
      },
      (error: Error) => callback(error, ''),
    );
  };
}

async function resolveAll(resolver: Resolver, hostname: string): Promise<LookupAddress[]> {
  const [a, aaaa] = await Promise.all([
    resolver.query(hostname, 'A'),
    resolver.query(hostname, 'AAAA'),
  ]);
  return [
    ...(a.outcome === 'ok' ? a.records.map((address) => ({ address, family: 4 })) : []),
    ...(aaaa.outcome === 'ok' ? aaaa.records.map((address) => ({ address, family: 6 })) : []),
  ];
}
