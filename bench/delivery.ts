// Delivery throughput in the shape: N messages of about 2 KB, one recipient each,
// over 100 recipient domains whose MX records all name one TLS sink host (mx.sink.test,
// certificate from the bench CA, trusted like SECUREMAIL_CA_FILE). Every message is
// DKIM-signed with the account's RSA-2048 and Ed25519 keys; every connection is verified
// (PKIX with the MX host name). The sink runs in a child process, so process.cpuUsage()
// here is the sender's CPU: worker, SQLite (in-process) or the pg client, and the small
// in-process test DNS server (a few hundred queries per run thanks to the TTL cache).

import { type ChildProcess, fork } from 'node:child_process';
import { randomUUIDv7 } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import { CompiledQuery, sql } from 'kysely';
import { newRecipientRow } from '../src/recipients/accept.ts';
import { seal } from '../src/secrets/sealed-box.ts';
import { sealSubject } from '../src/secrets/sealed-content.ts';
import { dueRecipientsQuery } from '../src/store/delivery.repository.ts';
import type { MessagesTable, RecipientsTable } from '../src/store/messages.table.ts';
import { chainPem, makeLeaf, type TestCert } from '../test/support/certs.ts';
import type { SinkStart, SinkStats } from './sink.ts';
import type { BenchStore, BenchWorld } from './world.ts';
import { benchMime, SENDER_DOMAIN } from './world.ts';

export const SINK_HOST = 'mx.sink.test';
export const RECIPIENT_DOMAINS = 100;

export interface SinkSettings {
  /** Round-trip time the sink models (delayed-link.ts); 0: plain loopback. */
  rttMs: number;
  /** Offer CHUNKING (RFC 3030), as Postfix 3.4+ does. */
  chunking: boolean;
}

export interface Sink {
  port: number;
  settings: SinkSettings;
  stats(): Promise<SinkStats>;
  close(): void;
}

/** The sink for the bench world: its certificate from the bench CA, MX records for d0..d99.test. */
export async function startSink(
  w: BenchWorld,
  settings: SinkSettings = { rttMs: 0, chunking: true },
): Promise<Sink> {
  const leaf = await makeLeaf({ names: [SINK_HOST], issuer: w.ca });
  const sink = await startSinkProcess(leaf, settings);
  for (let i = 0; i < RECIPIENT_DOMAINS; i++) {
    w.dns.set(`d${i}.test`, [{ type: 'MX', preference: 10, exchange: SINK_HOST }]);
  }
  w.dns.set(SINK_HOST, [{ type: 'A', data: '127.0.0.1' }]);
  return sink;
}

/** The sink in a child process of its own (sink.ts), serving `leaf`. */
export async function startSinkProcess(leaf: TestCert, settings: SinkSettings): Promise<Sink> {
  const child: ChildProcess = fork(new URL('./sink.ts', import.meta.url), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const start: SinkStart = { key: leaf.keyPem, cert: chainPem(leaf), ...settings };
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('message', (m: { port: number }) => resolve(m.port));
    child.send(start);
  });
  return {
    port,
    settings,
    stats: () =>
      new Promise((resolve) => {
        child.once('message', (m: SinkStats) => resolve(m));
        child.send({ stats: true });
      }),
    close: () => child.kill(),
  };
}

/**
 * Queues `count` single-recipient messages directly in the tables (the API's own rate is
 * measured separately), with sealed bodies as POST /message stores them.
 */
export async function queueMessages(w: BenchWorld, count: number, tag: string): Promise<void> {
  const now = Date.now();
  const chunk = 500;
  for (let start = 0; start < count; start += chunk) {
    const messages: MessagesTable[] = [];
    const recipients: RecipientsTable[] = [];
    for (let i = start; i < Math.min(count, start + chunk); i++) {
      const id = randomUUIDv7();
      const body = Buffer.from(benchMime(i));
      const address = `user${i}@d${i % RECIPIENT_DOMAINS}.test`;
      messages.push({
        id,
        client_id: 'bench',
        account_id: w.accountId,
        kind: 'message',
        sender: `news@${SENDER_DOMAIN}`,
        message_id_header: `${tag}-${i}@${SENDER_DOMAIN}`,
        subject_sealed: sealSubject(w.masterKey, id, `Your order ${i}`),
        content_hash: id,
        size: body.length,
        body_sealed: seal(w.masterKey, 'message-body', id, body).toString('base64'),
        require_tls: 0,
        recipient_count: 1,
        response_json: '{}',
        created_at: now,
        completed_at: null,
      });
      recipients.push(newRecipientRow(id, address, now));
    }
    await w.store.db.transaction().execute(async (trx) => {
      await trx.insertInto('messages').values(messages).execute();
      for (let i = 0; i < recipients.length; i += 100) {
        await trx
          .insertInto('recipients')
          .values(recipients.slice(i, i + 100))
          .execute();
      }
    });
  }
}

/**
 * Adds `count` recipients spread over messages of 1,000 recipients each, in bulk (an SQLite
 * connection of its own with one transaction; PostgreSQL generate_series):
 * - `final`: delivered a day ago, the history a busy queue carries;
 * - `waiting`: deferred until tomorrow, a backlog in the queue's index that is not due yet
 *   (the "1M queued" of the issue).
 */
export async function addBulkRecipients(
  w: BenchWorld,
  bench: BenchStore,
  count: number,
  kind: 'final' | 'waiting',
) {
  const at = Date.now() - 86_400_000;
  const waiting = kind === 'waiting';
  const status = waiting ? 'deferred' : 'delivered';
  const nextAttempt = waiting ? Date.now() + 86_400_000 : at;
  const finalAt = waiting ? null : at;
  const tag = `${kind}-${randomUUIDv7()}`;
  const perMessage = 1000;
  const messageIds = Array.from({ length: Math.ceil(count / perMessage) }, () => randomUUIDv7());
  const messageRow = (id: string, i: number): MessagesTable => ({
    id,
    client_id: 'bench',
    account_id: w.accountId,
    kind: 'message',
    sender: `news@${SENDER_DOMAIN}`,
    message_id_header: `${tag}-${i}@${SENDER_DOMAIN}`,
    subject_sealed: null,
    content_hash: id,
    size: 2048,
    body_sealed: null,
    require_tls: 0,
    recipient_count: perMessage,
    response_json: '{}',
    created_at: at,
    completed_at: finalAt,
  });
  for (let i = 0; i < messageIds.length; i += 200) {
    await w.store.db
      .insertInto('messages')
      .values(messageIds.slice(i, i + 200).map((id, j) => messageRow(id, i + j)))
      .execute();
  }
  if (bench.sqlitePath !== undefined) {
    const raw = new DatabaseSync(bench.sqlitePath, { timeout: 30_000 });
    raw.exec('PRAGMA synchronous = FULL');
    const insert = raw.prepare(
      `insert into recipients (id, message_id, address, domain, status, attempts, next_attempt_at,
         created_at, updated_at, final_at, reason, detail)
       values (?, ?, ?, ?, ?, 1, ?, ?, ?, ?, null, ?)`,
    );
    raw.exec('begin');
    for (let i = 0; i < count; i++) {
      const domain = `d${i % RECIPIENT_DOMAINS}.test`;
      insert.run(
        randomUUIDv7(),
        messageIds[Math.floor(i / perMessage)]!,
        `${kind}${i}@${domain}`,
        domain,
        status,
        nextAttempt,
        at,
        at,
        finalAt,
        waiting ? '421 try again later' : '250 2.0.0 Ok',
      );
    }
    raw.exec('commit');
    raw.exec('analyze');
    raw.close();
    return;
  }
  await sql`
    insert into recipients (id, message_id, address, domain, status, attempts, next_attempt_at,
      created_at, updated_at, final_at, reason, detail)
    select gen_random_uuid()::text, (${sql.val(messageIds)}::text[])[1 + (g / ${perMessage})],
      ${kind}::text || g || '@d' || (g % ${RECIPIENT_DOMAINS}) || '.test',
      'd' || (g % ${RECIPIENT_DOMAINS}) || '.test', ${status}::text, 1, ${nextAttempt}::bigint,
      ${at}::bigint, ${at}::bigint, ${finalAt}::bigint, null,
      ${waiting ? '421 try again later' : '250 2.0.0 Ok'}::text
    from generate_series(0, ${count - 1}) as g`.execute(w.store.db);
  await sql`analyze recipients`.execute(w.store.db);
}

/** The plan of the claim query and how long it takes, on the queue as it is now. */
export async function claimPlan(w: BenchWorld): Promise<{ plan: string; ms: number }> {
  const query = dueRecipientsQuery(w.store.db, Date.now(), 500);
  const compiled = query.compile();
  const prefix = w.store.dialect === 'sqlite' ? 'explain query plan ' : 'explain ';
  const result = await w.store.db.executeQuery(
    CompiledQuery.raw(prefix + compiled.sql, [...compiled.parameters]),
  );
  const plan = (result.rows as Array<Record<string, unknown>>)
    .map((r) => String(r.detail ?? Object.values(r)[0]).trim())
    .join('; ');
  const started = performance.now();
  for (let i = 0; i < 20; i++) await query.execute();
  return { plan, ms: (performance.now() - started) / 20 };
}

export interface DeliveryResult {
  label: string;
  queued: number;
  /** Messages the sink accepted (one per transaction). */
  delivered: number;
  /** Recipients of those messages. */
  recipients: number;
  /** Messages of those sent with BDAT (CHUNKING) instead of DATA. */
  chunked: number;
  seconds: number;
  perSecond: number;
  cpuMsPerMessage: number;
  /** The sink's own CPU per accepted message (it must not be the bottleneck). */
  sinkCpuMsPerMessage: number;
  connections: number;
  /** Claim queries the worker made. */
  claims: number;
  /** Most connections the worker had open (or opening) at once. */
  peakConnections: number;
  timedOut: boolean;
  /** Highest RSS of this process seen during the run (sampled every 10 ms), in bytes. */
  peakRss: number;
}

/**
 * Runs the worker as the service does (claiming continuously, start()) until `expected`
 * recipients have their outcome recorded or `limitMs` passed, then stops it (in-flight
 * messages finish, the sessions QUIT), and measures wall time and this process's CPU over
 * exactly that span.
 */
export async function runDelivery(
  w: BenchWorld,
  sink: Sink,
  label: string,
  expected: number,
  limitMs: number,
  env: Record<string, string> = {},
): Promise<DeliveryResult> {
  const worker = w.worker(sink.port, env);
  const before = await sink.stats();
  let peakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, 10);
  const cpu = process.cpuUsage();
  const started = performance.now();
  let timedOut = false;
  worker.start();
  while (worker.counters.recorded < expected) {
    if (performance.now() - started > limitMs) {
      timedOut = true;
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await worker.stop();
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  clearInterval(sampler);
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
  const after = await sink.stats();
  const delivered = after.messages - before.messages;
  return {
    label,
    queued: expected,
    delivered,
    recipients: after.recipients - before.recipients,
    chunked: after.chunked - before.chunked,
    seconds,
    perSecond: delivered / seconds,
    cpuMsPerMessage: (used.user + used.system) / 1000 / Math.max(1, delivered),
    sinkCpuMsPerMessage: (after.cpuMicros - before.cpuMicros) / 1000 / Math.max(1, delivered),
    connections: after.connections - before.connections,
    claims: worker.counters.claims,
    peakConnections: worker.counters.peakConnections,
    timedOut,
    peakRss,
  };
}

/** Removes what a run left (timed-out runs leave recipients due), so runs do not mix. */
export async function clearQueue(w: BenchWorld): Promise<void> {
  await w.store.db
    .updateTable('recipients')
    .set({ status: 'expired', final_at: Date.now(), lease_owner: null, lease_until: null })
    .where('status', 'in', ['queued', 'deferred'])
    .execute();
}
