// Set-up for the domain onboarding tests: an API app whose DNS resolver talks to an
// in-process TestDnsServer, with a clock the test moves and a fixed master key.

import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { AccountView } from '../../src/accounts/accounts-service.ts';
import type { VerificationDeps } from '../../src/accounts/verification.ts';
import { buildApp } from '../../src/api/app.ts';
import { createClient } from '../../src/clients/clients-service.ts';
import { type Config, loadConfig } from '../../src/config.ts';
import { createResolver, type DnsClient } from '../../src/dns/index.ts';
import type { Store } from '../../src/store/database.ts';
import { requestToken, type Tenant } from '../support/app.ts';
import type { TestDnsServer } from '../support/dns-server.ts';
import { TEST_EPOCH } from '../support/test-clock.ts';

/** Short enough for a fast suite, long enough for a loaded machine on loopback. */
export const DNS_TIMEOUT_MS = 200;
export const START = TEST_EPOCH;
export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;

export interface OnboardingApp {
  app: FastifyInstance;
  config: Config;
  clock: { now: number };
  masterKey: Buffer;
  resolver: DnsClient;
  /** What the service functions take, sharing the app's clock, resolver and key. */
  deps: VerificationDeps;
  tenant(name?: string): Promise<Tenant>;
  close(): Promise<void>;
}

export async function startOnboardingApp(
  store: Store,
  dns: TestDnsServer,
  env: Record<string, string> = {},
): Promise<OnboardingApp> {
  const config = loadConfig({
    SECUREMAIL_DATA_DIR: '/nonexistent-test-dir',
    SECUREMAIL_HOSTNAME: 'platform.test',
    SECUREMAIL_MX_HOSTS: 'mx1.platform.test,mx2.platform.test',
    SECUREMAIL_SPF_INCLUDE: 'spf.platform.test',
    SECUREMAIL_DNS_SERVERS: dns.server,
    ...env,
  });
  const clock = { now: START };
  const now = () => clock.now;
  const masterKey = randomBytes(32);
  const resolver = createResolver({
    servers: [{ host: dns.host, port: dns.port }],
    timeoutMs: DNS_TIMEOUT_MS,
    attempts: 1,
    cache: false,
    now,
  });
  const app = await buildApp({ config, store, logger: false, now, masterKey, resolver });
  await app.ready();
  return {
    app,
    config,
    clock,
    masterKey,
    resolver,
    deps: { store, config, now, resolver, masterKey },
    async tenant(name = 'tenant') {
      const { clientId, clientSecret } = await createClient(
        store,
        { name, quotaLimit: null },
        clock.now,
      );
      const token = await requestToken(app, clientId, clientSecret);
      return { clientId, clientSecret, token, auth: { authorization: `Bearer ${token}` } };
    },
    async close() {
      await app.close();
      await resolver.close();
    },
  };
}

/** Publishes every record of an account view in the test zone, as a careful owner would. */
export function publishAll(dns: TestDnsServer, view: AccountView): void {
  const mx = view.receiving_dns_records.mx;
  const bounce = mx[0]!.hostname;
  dns.set(
    bounce,
    mx.map((r) => ({ type: 'MX' as const, preference: r.priority ?? 10, exchange: r.value })),
  );
  const { spf, dkim, dmarc, ses } = view.sending_dns_records;
  dns.add(spf.hostname, { type: 'TXT', data: spf.value });
  for (const key of dkim) dns.set(key.hostname, [{ type: 'TXT', data: key.value }]);
  dns.set(dmarc.hostname, [{ type: 'TXT', data: dmarc.value }]);
  dns.set(ses.hostname, [{ type: 'TXT', data: ses.value }]);
}

export async function createAccount(
  t: OnboardingApp,
  tenant: Tenant,
  domain: string,
  extra: Record<string, unknown> = {},
): Promise<AccountView> {
  const response = await t.app.inject({
    method: 'POST',
    url: '/account',
    headers: tenant.auth,
    payload: { domain, notification_email: `ops@${domain}`, ...extra },
  });
  if (response.statusCode !== 201) {
    throw new Error(`POST /account: ${response.statusCode} ${response.body}`);
  }
  return response.json();
}

export async function verify(t: OnboardingApp, tenant: Tenant, domain: string) {
  return t.app.inject({
    method: 'POST',
    url: `/account/verify?domain=${domain}`,
    headers: tenant.auth,
  });
}

export async function verifyView(
  t: OnboardingApp,
  tenant: Tenant,
  domain: string,
): Promise<AccountView> {
  const response = await verify(t, tenant, domain);
  if (response.statusCode !== 200) {
    throw new Error(`POST /account/verify: ${response.statusCode} ${response.body}`);
  }
  return response.json();
}
