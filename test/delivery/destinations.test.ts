// The destinations' rules on their own (src/delivery/destinations.ts): when a destination
// gets another connection, how its window grows with deliveries and halves with failures, when
// it is suspended, and the process-wide and per-host caps. No database, no sockets.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type ConcurrencyLimits,
  Destinations,
  SUSPEND_AFTER_FAILURES,
  SUSPEND_MS,
} from '../../src/delivery/destinations.ts';
import type { ClaimedRecipient } from '../../src/recipients/attempts.ts';

const LIMITS: ConcurrencyLimits = {
  total: 10,
  perDestination: 6,
  initial: 2,
  perHost: 0,
  depth: 2,
};

let next = 0;
function recipient(domain: string): ClaimedRecipient {
  next++;
  return {
    id: `r${next}`,
    messageId: `m${next}`,
    address: `u${next}@${domain}`,
    domain,
    attempts: 0,
    acceptedAt: 0,
    accountId: 'a',
    accountDomain: 'shop.test',
    bounceSubdomain: 'bounces',
    policyLevel: 'verified',
    requireTls: false,
    messageKind: 'message',
    size: 2000,
  };
}

function fill(all: Destinations, domain: string, n: number) {
  for (let i = 0; i < n; i++) all.add(recipient(domain), 0);
  return all.get(domain, 'verified')!;
}

test('a first connection as soon as one waits; another only for more than a pipeline beyond', () => {
  const all = new Destinations(LIMITS);
  const d = fill(all, 'a.test', 1);
  assert.deepEqual(
    all.toOpen(0).map((x) => x.destination.domain),
    ['a.test'],
  );
  assert.equal(all.toOpen(0).length, 0, 'the opening one will take it');
  fill(all, 'a.test', 4);
  // 5 waiting, one connection opening (2 places) and one more pipeline: 5 > 4, one more.
  assert.equal(all.toOpen(0).length, 1);
  assert.equal(d.connections, 2);
  assert.equal(all.toOpen(0).length, 0, 'the window (2) is full');
});

test('the window grows by about one per window of deliveries, up to the limit', () => {
  const all = new Destinations(LIMITS);
  const d = fill(all, 'grow.test', 1);
  let widened = 0;
  for (let i = 0; i < 100; i++) if (all.delivered(d)) widened++;
  assert.equal(d.window, LIMITS.perDestination);
  assert.equal(widened, LIMITS.perDestination - LIMITS.initial);
  // 2 -> 3 takes three deliveries (+1/2, +1/2.5, +1/2.9), 3 -> 4 three more.
  const e = fill(all, 'count.test', 1);
  let n = 0;
  while (Math.floor(e.window) < 4) {
    all.delivered(e);
    n++;
  }
  assert.equal(n, 6);
});

test('a failure halves the window; failures in a row at one connection suspend the destination', () => {
  const all = new Destinations({ ...LIMITS, initial: 6 });
  const d = fill(all, 'fail.test', 20);
  assert.equal(all.failed(d, 0, 'connection-failed', 'refused'), undefined);
  assert.equal(d.window, 3);
  all.delivered(d);
  assert.equal(d.failures, 0, 'a delivery ends the run of failures');
  let suspension: ReturnType<Destinations['failed']>;
  let n = 0;
  do {
    suspension = all.failed(d, 1000, 'smtp-temporary-error', 'GREETING: 421 busy');
    n++;
  } while (suspension === undefined && n < 20);
  assert.equal(d.window, 1);
  assert.equal(n, SUSPEND_AFTER_FAILURES);
  assert.equal(suspension?.until, 1000 + SUSPEND_MS);
  assert.equal(suspension?.reason, 'smtp-temporary-error');
  assert.match(suspension?.detail ?? '', /suspended .* GREETING: 421 busy/);
  // Suspended: no connection, and its waiting recipients are listed to be deferred.
  assert.equal(all.toOpen(2000).length, 0);
  assert.deepEqual(
    all.suspendedWithWaiting(2000).map((x) => x.domain),
    ['fail.test'],
  );
  // After the suspension it starts again with one connection.
  assert.equal(all.toOpen(1000 + SUSPEND_MS).length, 1);
  assert.equal(all.suspendedWithWaiting(1000 + SUSPEND_MS).length, 0);
});

test('the process cap holds over all destinations, the host cap over a host', () => {
  const all = new Destinations({ ...LIMITS, total: 3, initial: 5, perDestination: 5 });
  for (const domain of ['x.test', 'y.test']) fill(all, domain, 50);
  assert.equal(all.toOpen(0).length, 3);
  assert.equal(all.connections, 3);

  const hosts = new Destinations({ ...LIMITS, perHost: 2, initial: 5, perDestination: 5 });
  const a = fill(hosts, 'a.test', 1);
  fill(hosts, 'b.test', 1);
  const first = hosts.toOpen(0);
  assert.equal(first.length, 2);
  // Their first connections (hosts unknown until then) both went to one host.
  for (const o of first) hosts.opened(o, 'mx.shared.test', 2, 0);
  // Both domains are on one host now, which has its two connections.
  fill(hosts, 'a.test', 50);
  fill(hosts, 'b.test', 50);
  assert.equal(hosts.toOpen(0).length, 0, 'the host is at its cap');
  hosts.closed(a, 'mx.shared.test', 2, 0);
  assert.equal(hosts.toOpen(0).length, 1, 'one place on the host: one connection');
});
