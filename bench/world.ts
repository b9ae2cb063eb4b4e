// The benchmark's world: a durable store (an SQLite file with synchronous=FULL, or a
// PostgreSQL schema of its own that is dropped afterwards), the in-process test DNS server
// standing in for the operator's validating resolver, a test CA, the API app and a sending
// account that is verified through the API exactly as a user would. Loopback only.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import pino from 'pino';
import type { AccountView } from '../src/accounts/accounts-service.ts';
import { buildApp } from '../src/api/app.ts';
import { type Config, loadConfig } from '../src/config.ts';
import { createDeliveryWorker } from '../src/delivery/start.ts';
import type { DeliveryWorker } from '../src/delivery/worker.ts';
import { createResolver, type DnsClient } from '../src/dns/index.ts';
import { openStore, type Store } from '../src/store/database.ts';
import { migrateToLatest } from '../src/store/migrations.ts';
import { makeCa, type TestCert } from '../test/support/certs.ts';
import { TestDnsServer } from '../test/support/dns-server.ts';
import { verifiedSendingAccount } from '../test/support/sending-account.ts';

import { SENDER_DOMAIN } from './mime.ts';

export { benchMime, SENDER_DOMAIN } from './mime.ts';

export interface BenchStore {
  store: Store;
  /** The SQLite file, for bulk loading through a second connection. */
  sqlitePath: string | undefined;
  close(): Promise<void>;
}

export async function openBenchStore(
  dialect: 'sqlite' | 'postgres',
  postgresUrl?: string,
): Promise<BenchStore> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(path.join(tmpdir(), 'securemail-bench-'));
    const sqlitePath = path.join(dir, 'bench.db');
    const store = openStore({ sqlitePath });
    await migrateToLatest(store.db);
    return {
      store,
      sqlitePath,
      async close() {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const schema = `bench_${randomBytes(6).toString('hex')}`;
  const store = openStore({ databaseUrl: postgresUrl!, pgSchema: schema, poolSize: 10 });
  await migrateToLatest(store.db, store.schema);
  return {
    store,
    sqlitePath: undefined,
    async close() {
      await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(store.db);
      await store.close();
    },
  };
}

export interface BenchWorld {
  store: Store;
  dns: TestDnsServer;
  resolver: DnsClient;
  ca: TestCert;
  config: Config;
  masterKey: Buffer;
  app: FastifyInstance;
  auth: { authorization: string };
  account: AccountView;
  accountId: string;
  /** A worker for MX hosts on `smtpPort`, with the settings given. */
  worker(smtpPort: number, env?: Record<string, string>): DeliveryWorker;
  /** Called after each accepted message, as the service wakes its worker (service.ts). */
  onAccepted: (() => void) | undefined;
  close(): Promise<void>;
}

/** `settings`: more SECUREMAIL_* settings for the API and the worker (e.g. a higher recipient limit). */
export async function startBenchWorld(
  store: Store,
  settings: Record<string, string> = {},
): Promise<BenchWorld> {
  const dns = await TestDnsServer.start();
  const ca = await makeCa('SecureMail Bench Root');
  const masterKey = randomBytes(32);
  const now = Date.now;
  // The delivery resolver caches by TTL, as in production (service.ts).
  const resolver = createResolver({
    servers: [{ host: dns.host, port: dns.port }],
    timeoutMs: 1000,
    attempts: 2,
    cache: true,
  });
  const env = {
    SECUREMAIL_DATA_DIR: '/nonexistent-bench-dir',
    SECUREMAIL_HOSTNAME: 'platform.test',
    SECUREMAIL_MX_HOSTS: 'mx1.platform.bench,mx2.platform.test',
    SECUREMAIL_SPF_INCLUDE: 'spf.platform.test',
    SECUREMAIL_DNS_SERVERS: dns.server,
    SECUREMAIL_MESSAGES_PER_DAY: '1000000000',
    SECUREMAIL_QUOTA_LIMIT: '1000000000',
    ...settings,
  };
  const config = loadConfig(env);
  let world: BenchWorld | undefined;
  const app = await buildApp({
    config,
    store,
    logger: false,
    now,
    masterKey,
    resolver,
    extraCa: [ca.pem],
    onMessageAccepted: () => world?.onAccepted?.(),
  });
  await app.ready();
  const { tenant, account } = await verifiedSendingAccount(app, store, dns, {
    domain: SENDER_DOMAIN,
    notificationEmail: 'ops@notify.test',
    clientName: 'bench',
    now: now(),
  });
  const auth = tenant.auth;
  const row = await store.db
    .selectFrom('accounts')
    .select('id')
    .where('domain', '=', SENDER_DOMAIN)
    .executeTakeFirstOrThrow();

  world = {
    onAccepted: undefined,
    store,
    dns,
    resolver,
    ca,
    config,
    masterKey,
    app,
    auth,
    account,
    accountId: row.id,
    worker(smtpPort, extra = {}) {
      return createDeliveryWorker({
        config: loadConfig({
          ...env,
          SECUREMAIL_SMTP_PORT: String(smtpPort),
          SECUREMAIL_MX_ALLOW_NETWORKS: '127.0.0.0/8,::1/128',
          ...extra,
        }),
        store,
        masterKey,
        resolver,
        extraCa: [ca.pem],
        logger: pino({ level: 'silent' }),
        now,
        autoStart: false,
      });
    },
    async close() {
      await app.close();
      await resolver.close();
      await dns.close();
    },
  };
  return world;
}
