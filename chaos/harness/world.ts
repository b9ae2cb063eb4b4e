// The world a fault runs in, all inside the runner's process and on loopback: the test DNS
// server standing in for the operator's validating resolver, a test CA made at run time,
// one SMTP sink with real TLS (STARTTLS, PIPELINING, CHUNKING) that is the MX of every
// recipient domain (d0.test ... d99.test), and the sending account, set up the way the
// README tells a user: a client made with the CLI, a token from the token endpoint,
// POST /account, the records published in DNS, POST /account/verify.

import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { AccountView } from '../../src/accounts/accounts-service.ts';
import { publishAll } from '../../test/accounts/support.ts';
import { chainPem, makeCa, makeLeaf, type TestCert } from '../../test/support/certs.ts';
import { TestDnsServer } from '../../test/support/dns-server.ts';
import { TestSmtpServer } from '../../test/support/smtp-server.ts';
import { runCli } from './service.ts';

export const SENDER_DOMAIN = 'chaos-shop.nl';
export const SINK_HOST = 'mx.sink.test';
export const RECIPIENT_DOMAINS = 100;

export interface World {
  dns: TestDnsServer;
  ca: TestCert;
  sink: TestSmtpServer;
  /** Settings every `serve` process and CLI command of this fault gets, before its database's. */
  env(database: Record<string, string>, extra?: Record<string, string>): Record<string, string>;
  /** Copies the sink accepted, per recipient address. */
  received(): Map<string, number>;
  /** Recipient copies the sink accepted in all (duplicates included). */
  receivedTotal(): number;
  close(): Promise<void>;
}

export async function startWorld(workDir: string): Promise<World> {
  const dns = await TestDnsServer.start();
  const ca = await makeCa('SecureMail Chaos Root');
  const leaf = await makeLeaf({ names: [SINK_HOST], issuer: ca });
  const sink = await TestSmtpServer.start({
    name: SINK_HOST,
    tls: { key: leaf.keyPem, cert: chainPem(leaf) },
    chunking: true,
    pipelining: true,
  });
  for (let i = 0; i < RECIPIENT_DOMAINS; i++) {
    dns.set(`d${i}.test`, [{ type: 'MX', preference: 10, exchange: SINK_HOST }]);
  }
  dns.set(SINK_HOST, [{ type: 'A', data: '127.0.0.1' }]);
  const caFile = path.join(workDir, 'test-ca.pem');
  writeFileSync(caFile, ca.pem);
  const masterKey = randomBytes(32).toString('base64');
  return {
    dns,
    ca,
    sink,
    env(database, extra = {}) {
      return {
        // Only what the service needs: nothing of the runner's environment leaks in.
        PATH: process.env.PATH ?? '',
        SECUREMAIL_MASTER_KEY: masterKey,
        SECUREMAIL_HOSTNAME: 'platform.test',
        SECUREMAIL_MX_HOSTS: 'mx1.platform.test,mx2.platform.test',
        SECUREMAIL_SPF_INCLUDE: 'spf.platform.test',
        SECUREMAIL_DNS_SERVERS: dns.server,
        SECUREMAIL_SMTP_PORT: String(sink.port),
        // The sink is on loopback: the one network besides the internet mail may go to.
        SECUREMAIL_MX_ALLOW_NETWORKS: '127.0.0.0/8,::1/128',
        SECUREMAIL_CA_FILE: caFile,
        SECUREMAIL_MX_PORT: '0',
        SECUREMAIL_MESSAGES_PER_DAY: '1000000000',
        SECUREMAIL_QUOTA_LIMIT: '1000000000',
        SECUREMAIL_LOG_LEVEL: 'info',
        ...database,
        ...extra,
      };
    },
    received() {
      const counts = new Map<string, number>();
      for (const m of sink.messages) {
        if (m.reply !== undefined && !m.reply.startsWith('2')) continue;
        for (const to of m.to) counts.set(to, (counts.get(to) ?? 0) + 1);
      }
      return counts;
    },
    receivedTotal() {
      let total = 0;
      for (const m of sink.messages) {
        if (m.reply !== undefined && !m.reply.startsWith('2')) continue;
        total += m.to.length;
      }
      return total;
    },
    async close() {
      await sink.close();
      await dns.close();
    },
  };
}

export interface Sender {
  clientId: string;
  clientSecret: string;
  authorization: string;
}

/** `securemail client create` with `env` (the service's database), before the service starts. */
export async function createClient(
  env: Record<string, string>,
): Promise<Omit<Sender, 'authorization'>> {
  const out = await runCli(['client', 'create', '--name', 'Chaos shop', '--json'], env);
  const created = JSON.parse(out) as { client_id: string; client_secret: string };
  return { clientId: created.client_id, clientSecret: created.client_secret };
}

/** A token, the account, its records in DNS, and the account verified: ready to send. */
export async function setUpSender(
  world: World,
  apiUrl: string,
  client: Omit<Sender, 'authorization'>,
): Promise<Sender> {
  const authorization = await requestToken(apiUrl, client.clientId, client.clientSecret);
  const headers = { authorization, 'content-type': 'application/json' };
  const created = await fetch(`${apiUrl}/account`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ domain: SENDER_DOMAIN, notification_email: 'ops@notify.test' }),
    signal: AbortSignal.timeout(20_000),
  });
  if (created.status !== 201)
    throw new Error(`POST /account: ${created.status} ${await created.text()}`);
  publishAll(world.dns, (await created.json()) as AccountView);
  const verified = await fetch(`${apiUrl}/account/verify?domain=${SENDER_DOMAIN}`, {
    method: 'POST',
    headers: { authorization },
    signal: AbortSignal.timeout(20_000),
  });
  const account = (await verified.json()) as AccountView;
  if (account.domain?.state !== 'valid') {
    throw new Error(`the sending account is not valid: ${JSON.stringify(account)}`);
  }
  return { ...client, authorization };
}

export async function requestToken(
  apiUrl: string,
  clientId: string,
  clientSecret: string,
): Promise<string> {
  const response = await fetch(
    `${apiUrl}/oauth/client_credential/accesstoken?grant_type=client_credentials`,
    {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: clientId, client_secret: clientSecret }).toString(),
      signal: AbortSignal.timeout(20_000),
    },
  );
  if (response.status !== 200) {
    throw new Error(`token request: ${response.status} ${await response.text()}`);
  }
  const body = (await response.json()) as { access_token: string };
  return `Bearer ${body.access_token}`;
}
