// What the crash and multi-worker tests need beyond support.ts: a database that a second
// process can open from its configuration alone, the worker role as a real child process,
// and extra in-process workers on a world's store.

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import pg from 'pg';
import pino from 'pino';
import { loadConfig } from '../../src/config.ts';
import { createDeliveryWorker } from '../../src/delivery/start.ts';
import type { DeliveryWorker } from '../../src/delivery/worker.ts';
import { openStore, type Store } from '../../src/store/database.ts';
import { migrateToLatest } from '../../src/store/migrations.ts';
import { FINAL_STATUSES } from '../../src/vocabulary/recipient-statuses.ts';
import { postgresUrl } from '../support/db.ts';
import type { World } from './support.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * A migrated database that `securemail serve` finds from its environment alone. The service
 * has no PostgreSQL schema option, so the PostgreSQL variant gets a database of its own
 * (created here, dropped on close) instead of test/support/db.ts's schema per store.
 */
export interface ProcessDatabase {
  name: 'sqlite' | 'postgres';
  store: Store;
  /** Holds the SQLite file (SECUREMAIL_DATA_DIR) and anything else the child needs. */
  dataDir: string;
  /** DATABASE_URL and SECUREMAIL_DATA_DIR for the child. */
  env: Record<string, string>;
  close(): Promise<void>;
}

export function processDialects(): ProcessDatabase['name'][] {
  return postgresUrl === undefined ? ['sqlite'] : ['sqlite', 'postgres'];
}

export async function openProcessDatabase(name: ProcessDatabase['name']): Promise<ProcessDatabase> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'securemail-process-'));
  if (name === 'sqlite') {
    // The service's own file name under the data directory (config.sqlitePath).
    const store = openStore({ sqlitePath: path.join(dataDir, 'securemail.db') });
    await migrateToLatest(store.db);
    return {
      name,
      store,
      dataDir,
      env: { SECUREMAIL_DATA_DIR: dataDir },
      async close() {
        await store.close();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  }
  const database = `securemail_test_${randomBytes(6).toString('hex')}`;
  await withAdmin((client) => client.query(`create database ${database}`));
  const url = new URL(postgresUrl!);
  url.pathname = `/${database}`;
  const store = openStore({ databaseUrl: url.toString(), poolSize: 4 });
  await migrateToLatest(store.db, store.schema);
  return {
    name,
    store,
    dataDir,
    env: { SECUREMAIL_DATA_DIR: dataDir, DATABASE_URL: url.toString() },
    async close() {
      await store.close();
      // FORCE: a killed child's connections may not have timed out yet.
      await withAdmin((client) => client.query(`drop database if exists ${database} with (force)`));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function withAdmin<T>(use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: postgresUrl });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

/** The environment of a `securemail serve --roles worker` child delivering into `w`'s test network. */
export function workerProcessEnv(
  w: World,
  database: ProcessDatabase,
  extra: Record<string, string> = {},
): Record<string, string> {
  const caFile = path.join(database.dataDir, 'test-ca.pem');
  writeFileSync(caFile, w.ca.pem);
  return {
    // Only what the child needs: a DATABASE_URL of the parent must not leak into it.
    PATH: process.env.PATH ?? '',
    ...database.env,
    SECUREMAIL_MASTER_KEY: w.masterKey.toString('base64'),
    SECUREMAIL_HOSTNAME: w.config.hostname,
    SECUREMAIL_MX_HOSTS: w.config.mxHosts.join(','),
    SECUREMAIL_DNS_SERVERS: w.dns.server,
    SECUREMAIL_SMTP_PORT: String(w.smtpPort),
    SECUREMAIL_MX_ALLOW_NETWORKS: '127.0.0.0/8,::1/128',
    SECUREMAIL_CA_FILE: caFile,
    SECUREMAIL_SMTP_CONNECT_TIMEOUT_MS: '1000',
    SECUREMAIL_SMTP_COMMAND_TIMEOUT_MS: '2000',
    SECUREMAIL_HTTP_PORT: '0',
    SECUREMAIL_MX_PORT: '0',
    SECUREMAIL_LOG_LEVEL: 'warn',
    ...extra,
  };
}

/** `securemail serve --roles worker` as a child process, with its output kept for failures. */
export class WorkerProcess {
  readonly child: ChildProcess;
  output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(child: ChildProcess) {
    this.child = child;
    child.stdout?.on('data', (chunk: Buffer) => {
      this.output += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.output += chunk.toString();
    });
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
  }

  static start(env: Record<string, string>): WorkerProcess {
    const child = spawn(process.execPath, ['src/main.ts', 'serve', '--roles', 'worker'], {
      cwd: REPO_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new WorkerProcess(child);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGKILL: no shutdown handler runs, claims stay leased, a transaction may be cut off. */
  async kill(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM and a graceful stop; SIGKILL when that takes longer than `timeoutMs`. */
  async stop(timeoutMs = 5000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.running) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Polls `check` every `intervalMs` until it returns true; throws `describe()` after `timeoutMs`. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  describe: () => string,
  intervalMs = 20,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${describe()}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Another in-process worker on `store` (a sibling pool for a second "process"), driven by runOnce(). */
export function extraWorker(
  w: World,
  store: Store,
  env: Record<string, string> = {},
): DeliveryWorker {
  return createDeliveryWorker({
    config: loadConfig({
      SECUREMAIL_DATA_DIR: '/nonexistent-test-dir',
      SECUREMAIL_HOSTNAME: w.config.hostname,
      SECUREMAIL_DNS_SERVERS: w.dns.server,
      SECUREMAIL_SMTP_PORT: String(w.smtpPort),
      SECUREMAIL_MX_ALLOW_NETWORKS: '127.0.0.0/8,::1/128',
      SECUREMAIL_SMTP_CONNECT_TIMEOUT_MS: '1000',
      SECUREMAIL_SMTP_COMMAND_TIMEOUT_MS: '2000',
      ...env,
    }),
    store,
    masterKey: w.masterKey,
    resolver: w.resolver,
    extraCa: [w.ca.pem],
    logger: pino({ level: 'silent' }),
    now: () => w.clock.now,
    autoStart: false,
  });
}

/** How many recipients of `messageId` are in a final state. */
export async function finalCount(store: Store, messageId: string): Promise<number> {
  const row = await store.db
    .selectFrom('recipients')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('message_id', '=', messageId)
    .where('status', 'in', FINAL_STATUSES)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Per recipient of `messageId`: its status and how many attempts of each verdict it has. */
export async function recipientLedger(
  store: Store,
  messageId: string,
): Promise<{ address: string; status: string; deliver: number; other: number }[]> {
  const rows = await store.db
    .selectFrom('recipients')
    .leftJoin('attempts', 'attempts.recipient_id', 'recipients.id')
    .select([
      'recipients.address',
      'recipients.status',
      sql<number>`count(case when attempts.verdict = 'deliver' then 1 end)`.as('deliver'),
      sql<number>`count(case when attempts.verdict <> 'deliver' then 1 end)`.as('other'),
    ])
    .where('recipients.message_id', '=', messageId)
    .groupBy(['recipients.id', 'recipients.address', 'recipients.status'])
    .execute();
  return rows.map((r) => ({ ...r, deliver: Number(r.deliver), other: Number(r.other) }));
}

/** How many times each address reached any of `servers`, as RCPT TO of an accepted message. */
export function receivedCounts(
  servers: readonly { messages: { to: string[] }[] }[],
): Map<string, number> {
  const counts = new Map<string, number>();
  for (const server of servers)
    for (const m of server.messages)
      for (const to of m.to) counts.set(to, (counts.get(to) ?? 0) + 1);
  return counts;
}
