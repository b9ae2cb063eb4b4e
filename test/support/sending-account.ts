// A tenant with a sending domain that is `valid`, made the way a user makes one: a client
// and token, POST /account, the records published in the test DNS, POST /account/verify.
// Shared by the delivery tests and the benchmark.

import type { FastifyInstance } from 'fastify';
import type { AccountView } from '../../src/accounts/accounts-service.ts';
import { createClient } from '../../src/clients/clients-service.ts';
import type { Store } from '../../src/store/database.ts';
import { publishAll } from '../accounts/support.ts';
import { requestToken, type Tenant } from './app.ts';
import type { TestDnsServer } from './dns-server.ts';

export async function verifiedSendingAccount(
  app: FastifyInstance,
  store: Store,
  dns: TestDnsServer,
  options: { domain: string; notificationEmail: string; clientName: string; now: number },
): Promise<{ tenant: Tenant; account: AccountView }> {
  const { clientId, clientSecret } = await createClient(
    store,
    { name: options.clientName, quotaLimit: null },
    options.now,
  );
  const token = await requestToken(app, clientId, clientSecret);
  const tenant: Tenant = {
    clientId,
    clientSecret,
    token,
    auth: { authorization: `Bearer ${token}` },
  };
  const created = await app.inject({
    method: 'POST',
    url: '/account',
    headers: tenant.auth,
    payload: { domain: options.domain, notification_email: options.notificationEmail },
  });
  if (created.statusCode !== 201) throw new Error(`POST /account: ${created.body}`);
  publishAll(dns, created.json());
  const verified = await app.inject({
    method: 'POST',
    url: `/account/verify?domain=${options.domain}`,
    headers: tenant.auth,
  });
  const account = verified.json() as AccountView;
  if (account.domain.state !== 'valid') throw new Error(`account not valid: ${verified.body}`);
  return { tenant, account };
}
