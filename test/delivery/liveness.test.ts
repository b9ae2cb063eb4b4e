// Worker liveness (src/delivery/liveness.ts): a worker that stops beating has its claims taken
// back within SECUREMAIL_WORKER_STALE_SECONDS plus a check or two, and another worker delivers
// them; a worker that is slow but beating keeps its claims; on SQLite a starting worker takes
// back every claim at once; claims without a worker row are taken back too. A "stopped"
// worker is one that registered and claimed and then never beat again, as a SIGKILLed process.
// Without the heartbeat each of these recipients would wait out its 600-second lease.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { claimRecipients } from '../../src/recipients/attempts.ts';
import type { Store } from '../../src/store/database.ts';
import { registerWorker } from '../../src/store/workers.repository.ts';
import { dialects, type TestStore } from '../support/db.ts';
import { extraWorker, recipientLedger, waitFor } from './process-support.ts';
import { sendMessage, startWorld, type World } from './support.ts';

/** The smallest stale time the setting allows; workers beat every 2 s. */
const STALE_SECONDS = 4;
const BEAT_SECONDS = 2;
/** Worst case: the last change seen one beat late, the judgement one beat after staleness. */
const BOUND_MS = (STALE_SECONDS + 2 * BEAT_SECONDS) * 1000;
const ENV = {
  SECUREMAIL_WORKER_STALE_SECONDS: String(STALE_SECONDS),
  SECUREMAIL_WORKER_BATCH: '50',
};

/** A message to `count` recipients at `domain`. */
function submitTo(w: World, domain: string, count: number): Promise<string> {
  return sendMessage(
    w,
    Array.from({ length: count }, (_, i) => `user${i}@${domain}`),
  );
}

/** A worker that registered and claimed everything due, then stopped (never beats again). */
async function stoppedWorkerClaims(
  w: World,
  store: Store,
  owner: string,
  register: boolean,
): Promise<number> {
  if (register)
    await registerWorker(store.db, { id: owner, host: 'gone', pid: 1, now: w.clock.now });
  const claimed = await claimRecipients(store, {
    owner,
    now: w.clock.now,
    limit: 1000,
    leaseMs: 600_000,
  });
  return claimed.length;
}

async function leasedBy(store: Store, owner: string): Promise<number> {
  const row = await store.db
    .selectFrom('recipients')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('lease_owner', '=', owner)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

async function allDelivered(store: Store, messageId: string): Promise<boolean> {
  const ledger = await recipientLedger(store, messageId);
  return ledger.every((r) => r.status === 'delivered');
}

/** Every recipient delivered exactly once, with one attempt: the taken-back claim cost none. */
async function assertDeliveredOnce(store: Store, messageId: string, count: number): Promise<void> {
  const ledger = await recipientLedger(store, messageId);
  assert.equal(ledger.length, count);
  for (const r of ledger) {
    assert.equal(r.status, 'delivered', `${r.address}: ${r.status}`);
    assert.equal(r.deliver, 1, `${r.address}: ${r.deliver} 'deliver' attempts`);
    assert.equal(r.other, 0, `${r.address}: ${r.other} other attempts`);
  }
}

describe('worker liveness', () => {
  for (const dialect of dialects()) {
    describe(dialect.name, () => {
      let store: TestStore;
      let w: World;

      test.beforeEach(async () => {
        store = await dialect.open();
        w = await startWorld(store, ENV);
      });
      test.afterEach(async () => {
        await w.close();
        await store.close();
      });

      if (dialect.name === 'sqlite') {
        test('a starting worker takes back every claim at once (one process per SQLite file)', async () => {
          await w.addMx('sq-restart.test', '127.0.0.31');
          const messageId = await submitTo(w, 'sq-restart.test', 20);
          assert.equal(await stoppedWorkerClaims(w, store, 'killed-process', true), 20);
          const worker = extraWorker(w, store, ENV);
          const t0 = Date.now();
          worker.start();
          try {
            // Sooner than any observer could judge the killed process stale: at start.
            await waitFor(
              () => allDelivered(store, messageId),
              STALE_SECONDS * 1000 - 500,
              () => 'the killed process kept its claims',
            );
            assert.equal(worker.liveness.takenBack, 20);
          } finally {
            await worker.stop();
          }
          await assertDeliveredOnce(store, messageId, 20);
          assert.ok(Date.now() - t0 < STALE_SECONDS * 1000);
          // The killed process's row went with its claims; the stopped worker's row too.
          assert.equal((await store.db.selectFrom('workers').selectAll().execute()).length, 0);
        });
        return;
      }

      test('a worker that stops beating loses its claims within the bound; another delivers them', async () => {
        await w.addMx('pg-dead.test', '127.0.0.32');
        const messageId = await submitTo(w, 'pg-dead.test', 30);
        assert.equal(await stoppedWorkerClaims(w, store, 'dead-worker', true), 30);
        const sibling = await store.openSibling();
        const worker = extraWorker(w, sibling, ENV);
        const t0 = Date.now();
        worker.start();
        try {
          await waitFor(
            () => allDelivered(store, messageId),
            BOUND_MS + 5_000,
            () => 'the dead worker kept its claims',
            100,
          );
        } finally {
          await worker.stop();
        }
        const elapsed = Date.now() - t0;
        assert.ok(elapsed >= STALE_SECONDS * 1000, `taken back after ${elapsed} ms: too early`);
        assert.ok(elapsed <= BOUND_MS + 1_000, `taken back after ${elapsed} ms`);
        assert.equal(worker.liveness.takenBack, 30);
        assert.equal(await leasedBy(store, 'dead-worker'), 0);
        await assertDeliveredOnce(store, messageId, 30);
        const rows = await store.db.selectFrom('workers').select('id').execute();
        assert.deepEqual(rows, [], 'the dead worker row and the stopped one are gone');
      });

      test('claims whose owner has no worker row are taken back', async () => {
        await w.addMx('pg-orphan.test', '127.0.0.33');
        const messageId = await submitTo(w, 'pg-orphan.test', 10);
        // As a version before the workers table left them: no row at all.
        assert.equal(await stoppedWorkerClaims(w, store, 'worker-before-0010', false), 10);
        const worker = extraWorker(w, store, ENV);
        worker.start();
        try {
          await waitFor(
            () => allDelivered(store, messageId),
            BOUND_MS + 5_000,
            () => 'the orphaned claims were not taken back',
            100,
          );
        } finally {
          await worker.stop();
        }
        assert.equal(worker.liveness.takenBack, 10);
        await assertDeliveredOnce(store, messageId, 10);
      });

      test('a slow worker that keeps beating keeps its claims', async () => {
        // One SMTP transaction longer than the stale time: the observer must not take it.
        const slowMs = (STALE_SECONDS + BEAT_SECONDS + 1) * 1000;
        const server = await w.addMx('pg-slow.test', '127.0.0.34', { dataDelayMs: slowMs });
        const messageId = await submitTo(w, 'pg-slow.test', 2);
        const slowEnv = {
          ...ENV,
          SECUREMAIL_SMTP_COMMAND_TIMEOUT_MS: String(slowMs + 10_000),
          SECUREMAIL_WORKER_CONCURRENCY: '1',
          SECUREMAIL_DESTINATION_INITIAL_CONCURRENCY: '1',
          SECUREMAIL_DESTINATION_CONCURRENCY: '1',
        };
        const slow = extraWorker(w, store, slowEnv);
        const observer = extraWorker(w, await store.openSibling(), ENV);
        slow.start();
        try {
          // The observer starts once the slow one holds both recipients: started together, the
          // observer could win the first claim (seen in CI), and then it is not an observer.
          await waitFor(
            () => slow.counters.claimed === 2,
            10_000,
            () => `the slow worker claimed ${slow.counters.claimed}`,
            20,
          );
        } catch (error) {
          await slow.stop();
          throw error;
        }
        observer.start();
        try {
          await waitFor(
            () => allDelivered(store, messageId),
            slowMs * 3 + 10_000,
            () => `delivered ${server.messages.length}`,
            100,
          );
        } finally {
          await observer.stop();
          await slow.stop();
        }
        assert.equal(observer.liveness.takenBack, 0, 'the observer took claims of a live worker');
        assert.equal(observer.counters.claimed, 0, 'the observer got recipients of the slow one');
        await assertDeliveredOnce(store, messageId, 2);
        const to = server.messages.flatMap((m) => m.to).sort();
        assert.equal(to.length, 2, `each address received once: ${to.join(', ')}`);
      });
    });
  }
});
