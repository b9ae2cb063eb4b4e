// An API app on a test store, with helpers to make clients and tokens.

import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app.ts';
import { createClient } from '../../src/clients/clients-service.ts';
import { type Config, loadConfig } from '../../src/config.ts';
import type { Store } from '../../src/store/database.ts';
import { TEST_EPOCH } from './test-clock.ts';

export interface TestApp {
  app: FastifyInstance;
  config: Config;
  clock: { now: number };
  /** A new client and a token for it. */
  tenant(name?: string, quotaLimit?: number | null): Promise<Tenant>;
  close(): Promise<void>;
}

export interface Tenant {
  clientId: string;
  clientSecret: string;
  token: string;
  auth: { authorization: string };
}

export async function startTestApp(
  store: Store,
  env: Record<string, string> = {},
): Promise<TestApp> {
  const config = loadConfig({ SECUREMAIL_DATA_DIR: '/nonexistent-test-dir', ...env });
  const clock = { now: TEST_EPOCH + 30_000 };
  const app = await buildApp({ config, store, logger: false, now: () => clock.now });
  await app.ready();
  return {
    app,
    config,
    clock,
    async tenant(name = 'tenant', quotaLimit = null) {
      const { clientId, clientSecret } = await createClient(store, { name, quotaLimit }, clock.now);
      const token = await requestToken(app, clientId, clientSecret);
      return { clientId, clientSecret, token, auth: { authorization: `Bearer ${token}` } };
    },
    close: () => app.close(),
  };
}

export async function requestToken(
  app: FastifyInstance,
  clientId: string,
  clientSecret: string,
): Promise<string> {
  const response = await app.inject({
    method: 'POST',
    url: '/oauth/client_credential/accesstoken?grant_type=client_credentials',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ client_id: clientId, client_secret: clientSecret }).toString(),
  });
  if (response.statusCode !== 200)
    throw new Error(`token request failed: ${response.statusCode} ${response.body}`);
  return response.json().access_token;
}
