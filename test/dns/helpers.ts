// Shared set-up for the DNS client tests: a resolver pointed at a TestDnsServer.

import type { TestContext } from 'node:test';
import { createResolver, type DnsClient, type ResolverOptions } from '../../src/dns/index.ts';
import type { TestDnsServer } from '../support/dns-server.ts';

/** Short enough to keep the suite fast, long enough for a loaded machine on loopback. */
export const FAST_TIMEOUT_MS = 150;

/** A resolver for `servers` that is closed when test `t` ends. */
export function resolverFor(
  t: TestContext,
  servers: TestDnsServer[],
  options: Partial<ResolverOptions> = {},
): DnsClient {
  const resolver = createResolver({
    servers: servers.map((server) => ({ host: server.host, port: server.port })),
    ...options,
  });
  t.after(() => resolver.close());
  return resolver;
}
