// What the network faults of the chaos suite share (issue 15): a test network around a real
// `securemail serve` child process, whose faults are injected from outside it. The parent
// holds the in-process DNS server standing in for the operator's validating resolver (it
// can go silent or answer SERVFAIL), counting SMTP sinks with certificates from a test CA
// (they can drop or stall after a message's content), and the database the child uses (its
// SQLite file, or a PostgreSQL database of its own); it creates the sending account through
// an in-process API on that database, then submits over HTTP to the child like any client.
// Every network fault runs once per database. A row's figures come from the database and the sinks:
// recipients lost (not final, or `delivered` yet absent at the sink) and copies beyond one.

import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { buildApp } from '../../src/api/app.ts';
import { loadConfig } from '../../src/config.ts';
import { createResolver } from '../../src/dns/index.ts';
import type { Store } from '../../src/store/database.ts';
import { migrateToLatest } from '../../src/store/migrations.ts';
import { chainPem, makeCa, makeLeaf, type TestCert } from '../../test/support/certs.ts';
import { CountingSink, type SinkAction } from '../../test/support/counting-sink.ts';
import { TestDnsServer } from '../../test/support/dns-server.ts';
import { verifiedSendingAccount } from '../../test/support/sending-account.ts';
import { type ChaosDb, postgresDb, sqliteDb } from '../harness/database.ts';
import { skippedRow } from '../harness/row.ts';
import { freePort, ServiceProcess } from '../harness/service.ts';
import { sleep } from '../harness/wait.ts';
import type { ChaosContext, ChaosDatabase, FaultRow } from '../types.ts';

export const SENDER_DOMAIN = 'shop.nl';

export interface NetWorld {
  database: ChaosDatabase;
  /** The database's settings for the child (data dir, DATABASE_URL on PostgreSQL). */
  db: ChaosDb;
  dns: TestDnsServer;
  ca: TestCert;
  store: Store;
  masterKey: Buffer;
  dataDir: string;
  /** The Authorization header of the sending client. */
  auth: string;
  /** One sink per recipient domain. */
  sinks: Map<string, CountingSink>;
  smtpPort: number;
  /** The services started on this world; closeNetWorld stops them. */
  services: NetService[];
}

/**
 * The rows of a network fault on each database: SQLite, then PostgreSQL when the suite has
 * one (a skipped row otherwise, as the other faults do).
 */
export async function onEachDatabase(
  context: ChaosContext,
  fault: string,
  row: (database: ChaosDatabase) => Promise<FaultRow>,
): Promise<FaultRow[]> {
  const rows = [await row('sqlite')];
  rows.push(
    context.postgresUrl === undefined
      ? skippedRow(fault, 'postgres', 'no PostgreSQL (set TEST_DATABASE_URL)')
      : await row('postgres'),
  );
  return rows;
}

/** The test network and a verified sending account in a fresh database of the kind asked for. */
export async function startNetWorld(
  context: ChaosContext,
  database: ChaosDatabase,
): Promise<NetWorld> {
  // A directory of its own: a fault may start several worlds in one work directory.
  mkdirSync(context.workDir, { recursive: true, mode: 0o700 });
  const dataDir = mkdtempSync(path.join(context.workDir, `${database}-data-`));
  const db =
    database === 'sqlite' ? sqliteDb(dataDir) : await postgresDb(context.postgresUrl!, dataDir);
  const store = db.open();
  await migrateToLatest(store.db, store.schema);
  const dns = await TestDnsServer.start();
  const ca = await makeCa('SecureMail Chaos Root');
  const masterKey = randomBytes(32);
  const resolver = createResolver({
    servers: [{ host: dns.host, port: dns.port }],
    timeoutMs: 1000,
    attempts: 1,
    cache: false,
  });
  const app = await buildApp({
    config: loadConfig({ ...baseEnv(dns, dataDir), SECUREMAIL_TOKEN_TTL: '86400' }),
    store,
    logger: false,
    now: Date.now,
    masterKey,
    resolver,
    extraCa: [ca.pem],
  });
  await app.ready();
  const { tenant } = await verifiedSendingAccount(app, store, dns, {
    domain: SENDER_DOMAIN,
    notificationEmail: 'ops@notify.test',
    clientName: 'chaos',
    now: Date.now(),
  });
  await app.close();
  await resolver.close();
  return {
    database,
    db,
    dns,
    ca,
    store,
    masterKey,
    dataDir,
    auth: tenant.auth.authorization,
    sinks: new Map(),
    smtpPort: 0,
    services: [],
  };
}

function baseEnv(dns: TestDnsServer, dataDir: string): Record<string, string> {
  return {
    SECUREMAIL_DATA_DIR: dataDir,
    SECUREMAIL_HOSTNAME: 'platform.test',
    SECUREMAIL_MX_HOSTS: 'mx1.platform.test,mx2.platform.test',
    SECUREMAIL_SPF_INCLUDE: 'spf.platform.test',
    SECUREMAIL_DNS_SERVERS: dns.server,
    SECUREMAIL_QUOTA_LIMIT: '1000000000',
    SECUREMAIL_MESSAGES_PER_DAY: '1000000000',
  };
}

/** A sink for `domain` on its own loopback address (127.0.0.<octet>), its MX and A records published (signed). */
export async function addDomain(
  world: NetWorld,
  domain: string,
  octet: number,
  afterContent?: (recipients: readonly string[]) => SinkAction,
  /** Offer CHUNKING (BDAT); without it messages go with DATA, dot-stuffed. */
  chunking = true,
): Promise<CountingSink> {
  const host = `mx.${domain}`;
  const leaf = await makeLeaf({ names: [host], issuer: world.ca });
  const sink = await CountingSink.start({
    host: `127.0.0.${octet}`,
    port: world.smtpPort,
    name: host,
    key: leaf.keyPem,
    cert: chainPem(leaf),
    chunking,
    ...(afterContent ? { afterContent } : {}),
  });
  world.smtpPort = sink.port;
  world.sinks.set(domain, sink);
  world.dns.set(domain, [{ type: 'MX', preference: 10, exchange: host }]);
  world.dns.set(host, [{ type: 'A', data: sink.host }]);
  world.dns.sign(domain);
  return sink;
}

/**
 * `securemail serve` as a child process on the world's database and network: the chaos
 * harness's ServiceProcess (log file under the data dir, cleanup if the runner dies, VmHWM
 * sampled), with the ports this world's faults talk to.
 */
export class NetService {
  readonly process: ServiceProcess;
  readonly httpPort: number;
  readonly mxPort: number;

  private constructor(process: ServiceProcess, httpPort: number, mxPort: number) {
    this.process = process;
    this.httpPort = httpPort;
    this.mxPort = mxPort;
  }

  /** Starts `serve --roles <roles>` and waits until /healthz answers. */
  static async start(
    world: NetWorld,
    roles: string,
    extra: Record<string, string> = {},
  ): Promise<NetService> {
    const caFile = path.join(world.dataDir, 'chaos-ca.pem');
    writeFileSync(caFile, world.ca.pem);
    const httpPort = await freePort();
    const mxPort = roles.includes('mx') ? await freePort() : 0;
    const env = {
      PATH: process.env.PATH ?? '',
      ...baseEnv(world.dns, world.dataDir),
      ...world.db.env,
      SECUREMAIL_MASTER_KEY: world.masterKey.toString('base64'),
      SECUREMAIL_SMTP_PORT: String(world.smtpPort),
      SECUREMAIL_MX_ALLOW_NETWORKS: '127.0.0.0/8,::1/128',
      SECUREMAIL_CA_FILE: caFile,
      SECUREMAIL_HTTP_HOST: '127.0.0.1',
      SECUREMAIL_HTTP_PORT: String(httpPort),
      SECUREMAIL_MX_HOST: '127.0.0.1',
      SECUREMAIL_MX_PORT: String(mxPort),
      SECUREMAIL_LOG_LEVEL: 'warn',
      ...extra,
    };
    const service = new ServiceProcess({
      name: 'service',
      roles,
      env,
      healthUrl: `http://127.0.0.1:${httpPort}/healthz`,
      logDir: world.dataDir,
    });
    const started = new NetService(service, httpPort, mxPort);
    world.services.push(started);
    await service.start();
    return started;
  }

  get url(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  /** Peak resident memory so far (VmHWM), MiB. */
  peakRssMiB(): number {
    this.process.sample();
    return Math.round(this.process.peakRssKiB / 1024);
  }

  /** SIGTERM (graceful stop), SIGKILL after 15 s. */
  stop(): Promise<void> {
    return this.process.stop();
  }
}

/** A MIME message of about `bytes` from the sending domain (CRLF lines of 78 octets). */
export function mimeOf(bytes: number, tag = randomBytes(6).toString('hex')): string {
  const line = `${'x'.repeat(76)}\r\n`;
  const body = line.repeat(Math.max(1, Math.ceil(bytes / line.length)));
  return [
    `From: Shop <news@${SENDER_DOMAIN}>`,
    'To: customers@example.org',
    `Subject: chaos ${tag}`,
    `Date: ${new Date().toUTCString()}`,
    `Message-ID: <${tag}.${randomBytes(6).toString('hex')}@${SENDER_DOMAIN}>`,
    'Content-Type: text/plain; charset=utf-8',
    '',
    body,
  ].join('\r\n');
}

/** POST /message to the service; the status code and the time it took. */
export async function submit(
  world: NetWorld,
  service: NetService,
  recipients: string[],
  message: string,
): Promise<{ status: number; ms: number; body: string }> {
  const started = Date.now();
  const response = await fetch(`${service.url}/message`, {
    method: 'POST',
    headers: { authorization: world.auth, 'content-type': 'application/json' },
    body: JSON.stringify({ sender: `news@${SENDER_DOMAIN}`, recipients, message }),
  });
  const body = await response.text();
  return { status: response.status, ms: Date.now() - started, body };
}

export function addresses(n: number, domain: string, prefix = 'r'): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i}@${domain}`);
}

/** Recipients per status. */
export async function statusCounts(store: Store): Promise<Map<string, number>> {
  const rows = await store.db
    .selectFrom('recipients')
    .select(['status', sql<number>`count(*)`.as('n')])
    .groupBy('status')
    .execute();
  return new Map(rows.map((r) => [r.status, Number(r.n)]));
}

/** Waits until no recipient is queued or deferred; false when `timeoutMs` ran out first. */
export async function waitAllFinal(store: Store, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = await statusCounts(store);
    if ((counts.get('queued') ?? 0) + (counts.get('deferred') ?? 0) === 0) return true;
    if (Date.now() > deadline) return false;
    await sleep(250);
  }
}

export interface Ledger {
  recipients: number;
  /** Not final, or `delivered` without a copy at the sink. */
  lost: number;
  /** Copies at the sinks beyond one per recipient. */
  duplicated: number;
  /** `delivered` although the sink never answered 250 for it. */
  deliveredUnanswered: number;
  /** Final but not delivered (refused, bounced, failed, expired). */
  undelivered: number;
}

/** Compares the database with the sinks. */
export async function ledger(world: NetWorld): Promise<Ledger> {
  const rows = await world.store.db
    .selectFrom('recipients')
    .select(['address', 'status'])
    .execute();
  const sinkOf = (address: string) => world.sinks.get(address.slice(address.lastIndexOf('@') + 1));
  let lost = 0;
  let deliveredUnanswered = 0;
  let undelivered = 0;
  for (const r of rows) {
    const sink = sinkOf(r.address);
    if (r.status === 'queued' || r.status === 'deferred') lost++;
    else if (r.status === 'delivered') {
      if ((sink?.copies(r.address) ?? 0) === 0) lost++;
      if ((sink?.accepted.get(r.address) ?? 0) === 0) deliveredUnanswered++;
    } else undelivered++;
  }
  let duplicated = 0;
  for (const sink of world.sinks.values()) duplicated += sink.duplicates;
  return { recipients: rows.length, lost, duplicated, deliveredUnanswered, undelivered };
}

/** The row of a network fault: its own checks, and the books (all final, none lost, copies within the bound). */
export function netRow(input: {
  fault: string;
  database: ChaosDatabase;
  runs: number;
  /** Recipients answered 202, and how many were sent. */
  accepted: number;
  sent: number;
  allFinal: boolean;
  ledger: Ledger;
  duplicateBound: number;
  peakRssMiB: number;
  notes: string[];
  checks: boolean[];
  /** Date.now() when the fault began, for the row's seconds. */
  started: number;
}): FaultRow {
  const { ledger } = input;
  const notes = [...input.notes];
  if (!input.allFinal) notes.push('not all final in time');
  notes.push(`${((Date.now() - input.started) / 1000).toFixed(0)} s`);
  return {
    fault: input.fault,
    database: input.database,
    runs: input.runs,
    recipients: input.accepted,
    lost: ledger.lost,
    duplicated: ledger.duplicated,
    duplicateBound: input.duplicateBound,
    peakRssMiB: input.peakRssMiB,
    notes,
    ok:
      input.allFinal &&
      input.accepted === input.sent &&
      ledger.lost === 0 &&
      ledger.duplicated <= input.duplicateBound &&
      input.checks.every(Boolean),
  };
}

/** Stops the services started on the world, then its sinks, DNS server and store. */
export async function closeNetWorld(world: NetWorld): Promise<void> {
  for (const service of world.services) await service.stop();
  for (const sink of world.sinks.values()) await sink.close();
  await world.dns.close();
  await world.store.close();
  await world.db.close();
}
