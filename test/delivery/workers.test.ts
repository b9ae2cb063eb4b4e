// Several workers on one queue never deliver a recipient twice. On PostgreSQL each worker
// has its own connection pool, as separate processes would, and claims race through
// `FOR UPDATE SKIP LOCKED`. SQLite allows one writer process, so its variant is two workers
// in one process on the one connection.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { DeliveryWorker } from '../../src/delivery/worker.ts';
import type { Store } from '../../src/store/database.ts';
import { dialects, type TestStore } from '../support/db.ts';
import type { TestSmtpServer } from '../support/smtp-server.ts';
import { extraWorker, receivedCounts, recipientLedger } from './process-support.ts';
import { mime, SENDER_DOMAIN, startWorld, type World } from './support.ts';

const DOMAINS = ['w-a.test', 'w-b.test', 'w-c.test', 'w-d.test'];
const PER_DOMAIN = 50;
const TOTAL = DOMAINS.length * PER_DOMAIN;
/** Small batches, so the workers claim many times and their claims race. */
const WORKER_ENV = { SECUREMAIL_WORKER_BATCH: '7', SECUREMAIL_WORKER_CONCURRENCY: '3' };

interface Run {
  /** Recipients each worker claimed over all its rounds. */
  claimed: number[];
}

/** Every worker runs rounds until a round finds nothing due, all at the same time. */
async function runTogether(workers: DeliveryWorker[]): Promise<Run> {
  const claimed = workers.map(() => 0);
  await Promise.all(
    workers.map(async (worker, i) => {
      for (let round = 0; round < 200; round++) {
        const handled = await worker.runOnce();
        claimed[i]! += handled;
        if (handled === 0) return;
      }
      throw new Error(`worker ${i} did not run out of work in 200 rounds`);
    }),
  );
  return { claimed };
}

async function sendAndRace(
  w: World,
  stores: Store[],
  first: number,
): Promise<{ run: Run; servers: TestSmtpServer[]; messageId: string; recipients: string[] }> {
  const servers: TestSmtpServer[] = [];
  for (const [i, domain] of DOMAINS.entries())
    servers.push(await w.addMx(domain, `127.0.0.${first + i}`));
  const recipients = DOMAINS.flatMap((domain) =>
    Array.from({ length: PER_DOMAIN }, (_, i) => `user${i}@${domain}`),
  );
  const accepted = await w.submit({
    sender: `news@${SENDER_DOMAIN}`,
    recipients,
    message: mime({}),
  });
  assert.equal(accepted.statusCode, 202, accepted.body);
  const workers = stores.map((store) => extraWorker(w, store, WORKER_ENV));
  const run = await runTogether(workers);
  return { run, servers, messageId: accepted.json().id, recipients };
}

async function assertEachOnce(
  w: World,
  result: Awaited<ReturnType<typeof sendAndRace>>,
): Promise<void> {
  const { run, servers, messageId, recipients } = result;
  const counts = receivedCounts(servers);
  const wrong = recipients.filter((r) => counts.get(r) !== 1);
  assert.deepEqual(
    wrong.map((r) => `${r}: ${counts.get(r) ?? 0}`),
    [],
    'every recipient reached its server exactly once',
  );
  assert.equal(
    servers.reduce((n, s) => n + s.messages.length, 0),
    TOTAL,
  );

  const ledger = await recipientLedger(w.store, messageId);
  assert.equal(ledger.length, TOTAL);
  for (const r of ledger) {
    assert.equal(r.status, 'delivered', `${r.address}: ${r.status}`);
    assert.equal(r.deliver, 1, `${r.address}: ${r.deliver} 'deliver' attempts`);
    assert.equal(r.other, 0, `${r.address}: ${r.other} other attempts`);
  }

  // No recipient was claimed by two workers (claims would add up to more than the total),
  // and the claims were really split: each worker delivered part of the message.
  assert.equal(
    run.claimed.reduce((a, b) => a + b, 0),
    TOTAL,
    `claims per worker: ${run.claimed.join(', ')}`,
  );
  for (const [i, n] of run.claimed.entries())
    assert.ok(n > 0, `worker ${i} claimed nothing: ${run.claimed.join(', ')}`);
}

const postgres = dialects().find((d) => d.name === 'postgres');

describe('two workers on one PostgreSQL', {
  skip:
    postgres === undefined
      ? 'TEST_DATABASE_URL is not set: needs PostgreSQL (several writer processes)'
      : false,
}, () => {
  test('never deliver the same recipient twice, and both do part of the work', async (t) => {
    const store: TestStore = await postgres!.open();
    let w: World | undefined;
    t.after(async () => {
      await w?.close();
      await store.close();
    });
    w = await startWorld(store);
    // One pool per worker, as two processes on two machines would have.
    const pools = [await store.openSibling(), await store.openSibling()];
    const result = await sendAndRace(w, pools, 1);
    t.diagnostic(`claims per worker: ${result.run.claimed.join(', ')}`);
    await assertEachOnce(w, result);
  });
});

describe('two workers in one process on SQLite', () => {
  test('never deliver the same recipient twice, and both do part of the work', async (t) => {
    const sqlite = dialects().find((d) => d.name === 'sqlite')!;
    const store = await sqlite.open();
    let w: World | undefined;
    t.after(async () => {
      await w?.close();
      await store.close();
    });
    w = await startWorld(store);
    // SQLite has one writer: both workers share the process's one connection.
    const result = await sendAndRace(w, [store, store], 1);
    t.diagnostic(`claims per worker: ${result.run.claimed.join(', ')}`);
    await assertEachOnce(w, result);
  });
});
