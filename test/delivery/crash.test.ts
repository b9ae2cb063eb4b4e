// A worker process killed (SIGKILL) in the middle of a bulk send, then restarted: every
// recipient still ends in exactly one final state, none is lost, and the only mail sent twice
// is what was in flight on a connection at the moment of the kill: at most the pipeline
// depth per connection (a place of the pipeline is used again only once its outcome is
// committed), with DATA (PIPELINING: 2 in flight) and with CHUNKING (BDAT: the depth).
//
// The worker runs as a real child process (`securemail serve --roles worker`) on the same
// database as the test's in-process API app, which submits the message. The test MX answers
// the end of DATA slowly, so the kill lands mid-way with messages in flight.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { requestToken } from '../support/app.ts';
import type { TestSmtpServer } from '../support/smtp-server.ts';
import {
  finalCount,
  openProcessDatabase,
  processDialects,
  receivedCounts,
  recipientLedger,
  WorkerProcess,
  waitFor,
  workerProcessEnv,
} from './process-support.ts';
import { mime, SENDER_DOMAIN, startWorld, type World } from './support.ts';

const DOMAINS = ['crash-a.test', 'crash-b.test', 'crash-c.test'];
const PER_DOMAIN = 100;
const TOTAL = DOMAINS.length * PER_DOMAIN;
/** Sessions the worker keeps open at once. */
const CONCURRENCY = 2;
/** Messages in flight per connection with CHUNKING; with DATA and PIPELINING the client takes 2. */
const DEPTH = 4;
/** Per message, so the 300 take seconds and a kill after a third lands mid-way. */
const DATA_DELAY_MS = 15;
/**
 * The default lease: the restarted worker does not wait it out. It takes the killed worker's
 * claims back at once on SQLite (one process per file), and on PostgreSQL once the killed
 * worker's heartbeat stood still for SECUREMAIL_WORKER_STALE_SECONDS (src/delivery/liveness.ts).
 */
const LEASE_SECONDS = 600;
const STALE_SECONDS = 10;
/** Takeback within stale seconds and two beats, and the remaining mail sent meanwhile. */
const RECOVERY_MS = (STALE_SECONDS + 4) * 1000 + 30_000;

// The variants run side by side: most of each one's time is the wait for the takeback.
describe('a worker process killed mid-send', { concurrency: true }, () => {
  for (const dialect of processDialects()) {
    for (const chunking of [false, true]) {
      const inFlight = chunking ? DEPTH : 2;
      test(`restarted, it brings every recipient to exactly one final state (${dialect}, ${chunking ? 'BDAT' : 'DATA'})`, async (t) => {
        const database = await openProcessDatabase(dialect);
        const children: WorkerProcess[] = [];
        let w: World | undefined;
        t.after(async () => {
          for (const child of children) await child.kill();
          await w?.close();
          await database.close();
        });
        w = await startWorld(database.store);
        const t0 = Date.now();
        const servers: TestSmtpServer[] = [];
        for (const [i, domain] of DOMAINS.entries())
          servers.push(
            await w.addMx(domain, `127.0.0.${i + 1}`, { dataDelayMs: DATA_DELAY_MS, chunking }),
          );
        const received = () => servers.reduce((n, s) => n + s.messages.length, 0);
        const recipients = DOMAINS.flatMap((domain) =>
          Array.from({ length: PER_DOMAIN }, (_, i) => `user${i}@${domain}`),
        );
        // The child runs on the real clock; accept the message on it too, so it is due there
        // (with a token issued on that clock).
        w.clock.now = Date.now();
        const token = await requestToken(w.app, w.tenant.clientId, w.tenant.clientSecret);
        const accepted = await w.app.inject({
          method: 'POST',
          url: '/message',
          headers: { authorization: `Bearer ${token}` },
          payload: { sender: `news@${SENDER_DOMAIN}`, recipients, message: mime({}) },
        });
        assert.equal(accepted.statusCode, 202, accepted.body);
        const messageId: string = accepted.json().id;

        const env = workerProcessEnv(w, database, {
          SECUREMAIL_WORKER_CONCURRENCY: String(CONCURRENCY),
          SECUREMAIL_PIPELINE_DEPTH: String(DEPTH),
          // Smaller than the message: at the kill some recipients are claimed and untried,
          // others not claimed at all.
          SECUREMAIL_WORKER_BATCH: '60',
          SECUREMAIL_LEASE_SECONDS: String(LEASE_SECONDS),
        });
        const first = WorkerProcess.start(env);
        t.diagnostic(`first worker started at ${Date.now() - t0} ms`);
        children.push(first);
        await waitFor(
          () => received() >= TOTAL / 3 || !first.running,
          60_000,
          () => `the first worker delivered ${received()} of ${TOTAL}:\n${first.output}`,
          5,
        );
        assert.ok(first.running, `the first worker exited on its own:\n${first.output}`);
        await first.kill();
        const atKill = received();
        const finalAtKill = await finalCount(database.store, messageId);
        t.diagnostic(`killed at ${Date.now() - t0} ms: ${atKill} received, ${finalAtKill} final`);
        assert.ok(
          finalAtKill < TOTAL && atKill < TOTAL,
          `the kill landed after the work was done (${finalAtKill} final, ${atKill} received)`,
        );
        // Anything the killed worker recorded as delivered, the server really has.
        assert.ok(finalAtKill <= atKill, `${finalAtKill} final but only ${atKill} received`);

        const second = WorkerProcess.start(env);
        children.push(second);
        // The killed worker's claims come back long before their lease runs out.
        await waitFor(
          async () => (await finalCount(database.store, messageId)) === TOTAL || !second.running,
          RECOVERY_MS,
          () => `only ${received()} of ${TOTAL} received after the restart:\n${second.output}`,
          200,
        );
        assert.ok(second.running, `the second worker exited on its own:\n${second.output}`);
        t.diagnostic(`all final at ${Date.now() - t0} ms`);
        const stopped = await second.stop();
        assert.equal(stopped.code, 0, `graceful stop of the second worker:\n${second.output}`);
        const errors = second.output.split('\n').filter((line) => /"level":(50|60)\b/.test(line));
        assert.deepEqual(errors, [], 'the restarted worker logged no errors');

        // Exactly one final state, and it is `delivered`, with exactly one 'deliver' attempt:
        // the killed worker's in-flight attempt was never committed.
        const ledger = await recipientLedger(database.store, messageId);
        assert.equal(ledger.length, TOTAL);
        for (const r of ledger) {
          assert.equal(r.status, 'delivered', `${r.address}: ${r.status}`);
          assert.equal(r.deliver, 1, `${r.address}: ${r.deliver} 'deliver' attempts`);
          assert.equal(r.other, 0, `${r.address}: ${r.other} other attempts`);
        }

        // Never lost; sent twice only for what was in flight, at most `inFlight` per connection.
        const counts = receivedCounts(servers);
        const missing = recipients.filter((r) => !counts.has(r));
        assert.deepEqual(missing, [], 'every recipient reached its server');
        const twice = [...counts].filter(([, n]) => n > 1);
        assert.ok(
          twice.every(([, n]) => n === 2),
          `no address more than twice: ${JSON.stringify(twice)}`,
        );
        assert.ok(
          twice.length <= CONCURRENCY * inFlight,
          `at most ${CONCURRENCY * inFlight} duplicates (${inFlight} in flight per connection), got ${JSON.stringify(twice)}`,
        );
        assert.equal(received(), TOTAL + twice.length);
        t.diagnostic(`sent twice: ${twice.map(([a]) => a).join(', ') || 'none'}`);

        // The message completed once every recipient was final.
        const message = await database.store.db
          .selectFrom('messages')
          .select('completed_at')
          .where('id', '=', messageId)
          .executeTakeFirstOrThrow();
        assert.notEqual(message.completed_at, null, 'the message is marked complete');
      });
    }
  }
});
