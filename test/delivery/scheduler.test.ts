// The worker's concurrency (destinations.ts): a recipient domain starts with a few
// connections and gains more while its deliveries succeed, up to its limit; a server that
// answers 421 gets fewer connections, then none for a while (its recipients are deferred
// without one); the process-wide and per-MX-host caps hold over all domains.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { dialects, type TestStore } from '../support/db.ts';
import { sendMessage, startWorld, type World } from './support.ts';

const sqlite = dialects().find((d) => d.name === 'sqlite')!;

async function statuses(w: World, messageId: string) {
  return w.store.db
    .selectFrom('recipients')
    .select(['address', 'status', 'reason', 'detail', 'attempts'])
    .where('message_id', '=', messageId)
    .orderBy('address')
    .execute();
}

const users = (n: number, domain: string) => Array.from({ length: n }, (_, i) => `u${i}@${domain}`);

describe('per-destination concurrency and back-off', () => {
  let store: TestStore;
  let w: World;

  before(async () => {
    store = await sqlite.open();
    w = await startWorld(store, {
      SECUREMAIL_WORKER_CONCURRENCY: '50',
      SECUREMAIL_DESTINATION_CONCURRENCY: '8',
      SECUREMAIL_DESTINATION_INITIAL_CONCURRENCY: '4',
      // One message per connection at a time: connections, not pipelines, carry the load.
      SECUREMAIL_PIPELINE_DEPTH: '1',
    });
  });
  after(async () => {
    await w.worker.close();
    await w.close();
    await store.close();
  });

  test('a server answering 421 gets fewer connections; a good one gets more, up to the limit', async (t) => {
    // Each message takes the good server 30 ms to answer, so connections stay busy and the
    // worker has a reason to open more.
    const good = await w.addMx('good.test', '127.0.0.1', { dataDelayMs: 30 });
    const busy = await w.addMx('busy.test', '127.0.0.2', {
      mailReplies: Array.from({ length: 200 }, () => '421 4.7.0 Too many connections, try later'),
      repliesAcrossConnections: true,
    });
    const id = await sendMessage(w, [...users(80, 'good.test'), ...users(80, 'busy.test')]);
    await w.worker.runOnce();

    t.diagnostic(
      `good: ${good.connections} connections, ${good.peakConnections} at once; 421: ${busy.connections} connections`,
    );
    const rows = await statuses(w, id);
    const goodRows = rows.filter((r) => r.address.endsWith('@good.test'));
    const busyRows = rows.filter((r) => r.address.endsWith('@busy.test'));
    assert.deepEqual(
      [...new Set(goodRows.map((r) => r.status))],
      ['delivered'],
      'every good recipient delivered',
    );
    assert.equal(good.messages.length, 80);
    assert.deepEqual([...new Set(busyRows.map((r) => r.status))], ['deferred']);
    assert.equal(busy.messages.length, 0, 'nothing delivered to the 421 server');
    // Grew while it succeeded (from 4), never beyond the limit of 8.
    assert.ok(good.peakConnections > 4, `good server: at most ${good.peakConnections} at once`);
    assert.ok(good.peakConnections <= 8, `good server: ${good.peakConnections} at once`);
    // The 421 server: the first window's connections, then suspended. Without feedback every
    // one of its 80 recipients would have had a connection of its own.
    assert.ok(busy.connections <= 4, `421 server: ${busy.connections} connections`);
    const busyDestination = w.worker.destinations.get('busy.test', 'verified')!;
    assert.equal(busyDestination.window, 1);
    assert.ok(busyDestination.suspended !== undefined, 'the destination is suspended');
    const suspended = busyRows.filter((r) => /suspended/.test(r.detail ?? ''));
    assert.ok(suspended.length > 0, 'the rest were deferred without a connection');
    for (const r of suspended) assert.equal(r.attempts, 0, 'not counted as an attempt');
    const tried = busyRows.filter((r) => !/suspended/.test(r.detail ?? ''));
    for (const r of tried) assert.match(r.detail ?? '', /^MAIL: 421/);
    const goodDestination = w.worker.destinations.get('good.test', 'verified')!;
    assert.equal(goodDestination.window, 8, 'the good destination reached its limit');
  });
});

describe('process-wide and per-host caps', () => {
  let store: TestStore;
  let w: World;

  before(async () => {
    store = await sqlite.open();
    w = await startWorld(store, {
      SECUREMAIL_WORKER_CONCURRENCY: '3',
      SECUREMAIL_DESTINATION_INITIAL_CONCURRENCY: '5',
      SECUREMAIL_MX_HOST_CONCURRENCY: '2',
      SECUREMAIL_PIPELINE_DEPTH: '1',
    });
  });
  after(async () => {
    await w.worker.close();
    await w.close();
    await store.close();
  });

  test('never more connections than the process cap, over all domains', async () => {
    const servers = [];
    for (const [i, domain] of ['cap-a.test', 'cap-b.test', 'cap-c.test'].entries()) {
      servers.push(await w.addMx(domain, `127.0.0.${i + 11}`, { dataDelayMs: 20 }));
    }
    const id = await sendMessage(w, [
      ...users(20, 'cap-a.test'),
      ...users(20, 'cap-b.test'),
      ...users(20, 'cap-c.test'),
    ]);
    await w.worker.runOnce();
    const rows = await statuses(w, id);
    assert.deepEqual([...new Set(rows.map((r) => r.status))], ['delivered']);
    assert.ok(w.worker.counters.peakConnections <= 3, `${w.worker.counters.peakConnections}`);
    // The server side agrees (a connection closes a little after the worker let it go).
    const open = servers.map((s) => s.peakConnections);
    assert.ok(
      open.every((n) => n <= 3),
      JSON.stringify(open),
    );
  });

  test('never more connections to one MX host than its cap, over its domains', async () => {
    await w.worker.close();
    const shared = await w.addMx('host-a.test', '127.0.0.21', { dataDelayMs: 20 });
    // A second domain on the same MX host and address.
    w.dns.set('host-b.test', [{ type: 'MX', preference: 10, exchange: 'mx.host-a.test' }]);
    // One message first, so the worker knows which host the domains are on.
    await sendMessage(w, ['first@host-a.test', 'first@host-b.test']);
    await w.worker.runOnce();
    const before = shared.peakConnections;
    const id = await sendMessage(w, [...users(20, 'host-a.test'), ...users(20, 'host-b.test')]);
    await w.worker.runOnce();
    const rows = await statuses(w, id);
    assert.deepEqual([...new Set(rows.map((r) => r.status))], ['delivered']);
    assert.ok(before <= 2 && shared.peakConnections <= 2, `${before}, ${shared.peakConnections}`);
  });
});

describe('a connection between messages (claiming continuously)', () => {
  let store: TestStore;
  let w: World;

  before(async () => {
    store = await sqlite.open();
    w = await startWorld(store);
  });
  after(async () => {
    await w.worker.stop();
    await w.close();
    await store.close();
  });

  const delivered = async (id: string) => {
    for (let i = 0; i < 200; i++) {
      const rows = await statuses(w, id);
      if (rows.every((r) => r.status === 'delivered')) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`not delivered: ${JSON.stringify(await statuses(w, id))}`);
  };
  const sessionsOf = async (ids: string[]) => {
    const rows = await w.store.db
      .selectFrom('attempts')
      .innerJoin('recipients', 'recipients.id', 'attempts.recipient_id')
      .select(['recipients.message_id', 'attempts.session_evidence_id'])
      .where('recipients.message_id', 'in', ids)
      .execute();
    return ids.map((id) => rows.find((r) => r.message_id === id)!.session_evidence_id);
  };

  test('stays with its destination for the next messages, and assesses it again after a minute', async () => {
    const server = await w.addMx('linger.test', '127.0.0.31');
    w.worker.start();
    const first = await sendMessage(w, ['a@linger.test']);
    await delivered(first);
    w.worker.poke();
    const second = await sendMessage(w, ['b@linger.test']);
    w.worker.poke();
    await delivered(second);
    // One connection, one assessment: the second message went out on the first's session.
    assert.equal(server.connections, 1);
    const [s1, s2] = await sessionsOf([first, second]);
    assert.equal(s1, s2, 'the same assessment and session evidence');
    // A minute later the destination is assessed afresh (the session may be the same one).
    w.clock.now += 61_000;
    const third = await sendMessage(w, ['c@linger.test']);
    w.worker.poke();
    await delivered(third);
    const [s3] = await sessionsOf([third]);
    assert.notEqual(s3, s1, 'a new assessment');
    const started = Date.now();
    await w.worker.stop();
    assert.ok(Date.now() - started < 900, 'stop() does not wait out a linger');
    w.clock.now -= 61_000;
  });
});
