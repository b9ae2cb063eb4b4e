// The whole sending path in one process: API app, delivery worker, an in-process DNS
// server that signs the recipient zones, and SMTP servers with certificates from a test CA.
// A sending account is created and verified through the API exactly as a user would.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import pino from 'pino';
import type { AccountView } from '../../src/accounts/accounts-service.ts';
import { buildApp } from '../../src/api/app.ts';
import { type Config, loadConfig } from '../../src/config.ts';
import { createDeliveryWorker } from '../../src/delivery/start.ts';
import type { DeliveryWorker } from '../../src/delivery/worker.ts';
import { createResolver, type DnsClient } from '../../src/dns/index.ts';
import type { Store } from '../../src/store/database.ts';
import type { Tenant } from '../support/app.ts';
import { chainPem, makeCa, makeLeaf, type TestCert } from '../support/certs.ts';
import { TestDnsServer } from '../support/dns-server.ts';
import { verifiedSendingAccount } from '../support/sending-account.ts';
import { type TestSmtpOptions, TestSmtpServer } from '../support/smtp-server.ts';
import { TEST_EPOCH } from '../support/test-clock.ts';

export const START = TEST_EPOCH;
export const SENDER_DOMAIN = 'shop.nl';

export interface World {
  store: Store;
  dns: TestDnsServer;
  resolver: DnsClient;
  ca: TestCert;
  config: Config;
  clock: { now: number };
  masterKey: Buffer;
  app: FastifyInstance;
  worker: DeliveryWorker;
  tenant: Tenant;
  account: AccountView;
  /** The SMTP port every test MX listens on (each on its own 127.0.0.x address). */
  smtpPort: number;
  servers: TestSmtpServer[];
  /** Starts an MX for `domain` on `address`, secure (STARTTLS, valid certificate) unless told otherwise. */
  addMx(
    domain: string,
    address: string,
    options?: Partial<TestSmtpOptions> & { insecure?: boolean },
  ): Promise<TestSmtpServer>;
  /** Runs worker rounds until nothing is due. */
  drain(): Promise<number>;
  submit(payload: Record<string, unknown>): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export function mime(
  headers: Record<string, string>,
  body = 'Hello,\r\n\r\nthis is a test.\r\n',
): string {
  const all = {
    From: `Shop <news@${SENDER_DOMAIN}>`,
    To: 'customers@example.org',
    Subject: 'Your order',
    Date: 'Sat, 28 Nov 2026 12:00:00 +0000',
    'Message-ID': `<${randomBytes(8).toString('hex')}@${SENDER_DOMAIN}>`,
    'Content-Type': 'text/plain; charset=utf-8',
    ...headers,
  };
  const lines = Object.entries(all)
    .filter(([, v]) => v !== '')
    .map(([k, v]) => `${k}: ${v}`);
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

/** POST /message from the sending account to `recipients`; asserts the 202 and returns the id. */
export async function sendMessage(w: World, recipients: string[], body?: string): Promise<string> {
  const accepted = await w.submit({
    sender: `news@${SENDER_DOMAIN}`,
    recipients,
    message: mime({}, body),
  });
  assert.equal(accepted.statusCode, 202, accepted.body);
  return accepted.json().id;
}

export async function startWorld(
  store: Store,
  env: Record<string, string> = {},
  /** A logger for the app and the worker (default: none), e.g. to read what a delivery logs. */
  options: { logger?: pino.Logger } = {},
): Promise<World> {
  const dns = await TestDnsServer.start();
  const ca = await makeCa('SecureMail Delivery Test Root');
  const clock = { now: START };
  const now = () => clock.now;
  const masterKey = randomBytes(32);
  const resolver = createResolver({
    servers: [{ host: dns.host, port: dns.port }],
    timeoutMs: 500,
    attempts: 1,
    cache: false,
    now,
  });
  const servers: TestSmtpServer[] = [];
  // The first server fixes the port; the others listen on other loopback addresses.
  let smtpPort = 0;

  const config = loadConfig({
    SECUREMAIL_DATA_DIR: '/nonexistent-test-dir',
    SECUREMAIL_HOSTNAME: 'platform.test',
    SECUREMAIL_MX_HOSTS: 'mx1.platform.test,mx2.platform.test',
    SECUREMAIL_SPF_INCLUDE: 'spf.platform.test',
    SECUREMAIL_DNS_SERVERS: dns.server,
    SECUREMAIL_SMTP_CONNECT_TIMEOUT_MS: '1000',
    SECUREMAIL_SMTP_COMMAND_TIMEOUT_MS: '2000',
    SECUREMAIL_WORKER_CONCURRENCY: '4',
    ...env,
  });
  const app = await buildApp({
    config,
    store,
    logger: options.logger ?? false,
    now,
    masterKey,
    resolver,
    extraCa: [ca.pem],
  });
  await app.ready();

  const { tenant, account } = await verifiedSendingAccount(app, store, dns, {
    domain: SENDER_DOMAIN,
    notificationEmail: 'ops@notify.test',
    clientName: 'shop',
    now: now(),
  });

  let worker: DeliveryWorker | undefined;
  const world: World = {
    store,
    dns,
    resolver,
    ca,
    clock,
    masterKey,
    app,
    tenant,
    account,
    servers,
    get smtpPort() {
      return smtpPort;
    },
    get config() {
      return config;
    },
    get worker() {
      worker ??= createDeliveryWorker({
        config: loadConfig({
          ...configEnv(config, dns),
          SECUREMAIL_SMTP_PORT: String(smtpPort),
          SECUREMAIL_MX_ALLOW_NETWORKS: '127.0.0.0/8,::1/128',
          ...env,
        }),
        store,
        masterKey,
        resolver,
        extraCa: [ca.pem],
        logger: options.logger?.child({ component: 'delivery' }) ?? pino({ level: 'silent' }),
        now,
        autoStart: false,
      });
      return worker;
    },
    async addMx(domain, address, options = {}) {
      const host = `mx.${domain}`;
      const leaf = await makeLeaf({ names: [host], issuer: ca });
      const server = await TestSmtpServer.start({
        host: address,
        port: smtpPort,
        name: host,
        ...(options.insecure ? {} : { tls: { key: leaf.keyPem, cert: chainPem(leaf) } }),
        ...options,
      });
      smtpPort = server.port;
      servers.push(server);
      dns.set(domain, [{ type: 'MX', preference: 10, exchange: host }]);
      dns.set(host, [{ type: 'A', data: address }]);
      return server;
    },
    async drain() {
      let total = 0;
      for (let round = 0; round < 50; round++) {
        const handled = await world.worker.runOnce();
        total += handled;
        if (handled === 0) return total;
      }
      throw new Error('the queue did not drain in 50 rounds');
    },
    submit: async (payload) =>
      app.inject({ method: 'POST', url: '/message', headers: tenant.auth, payload }),
    async close() {
      await app.close();
      for (const s of servers) await s.close();
      await resolver.close();
      await dns.close();
    },
  };
  return world;
}

function configEnv(config: Config, dns: TestDnsServer): Record<string, string> {
  return {
    SECUREMAIL_DATA_DIR: config.dataDir,
    SECUREMAIL_HOSTNAME: config.hostname,
    SECUREMAIL_DNS_SERVERS: dns.server,
    SECUREMAIL_SMTP_CONNECT_TIMEOUT_MS: '1000',
    SECUREMAIL_SMTP_COMMAND_TIMEOUT_MS: '2000',
    SECUREMAIL_WORKER_CONCURRENCY: '4',
  };
}

/** mailauth's resolver signature over our DNS client: TXT answers as arrays of strings. */
export function mailauthResolver(resolver: DnsClient) {
  return async (name: string, type: string): Promise<string[][]> => {
    if (type !== 'TXT') {
      const error = new Error(`no ${type}`) as Error & { code: string };
      error.code = 'ENOTFOUND';
      throw error;
    }
    const answer = await resolver.query(name, 'TXT');
    if (answer.outcome !== 'ok') {
      const error = new Error(answer.outcome) as Error & { code: string };
      error.code =
        answer.outcome === 'nxdomain' || answer.outcome === 'nodata' ? 'ENOTFOUND' : 'ETIMEOUT';
      throw error;
    }
    return answer.records.map((r) => [r]);
  };
}
