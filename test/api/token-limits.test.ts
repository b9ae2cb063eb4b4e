// The token endpoint under attack: failed attempts beyond the limits are refused before any
// secret is checked (counted through an injected verifier), and a known client still gets
// its token ahead of a flood of wrong secrets (asserted by order, not by time).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../../src/api/app.ts';
import { FailureWindow } from '../../src/api/failure-window.ts';
import { addressKey } from '../../src/api/token-guard.ts';
import { createClient } from '../../src/clients/clients-service.ts';
import { loadConfig } from '../../src/config.ts';
import { HashQueue, HashQueueFull } from '../../src/secrets/hash-queue.ts';
import { verifySecret } from '../../src/secrets/secret-hash.ts';
import { dialects, type TestStore } from '../support/db.ts';
import { TEST_EPOCH } from '../support/test-clock.ts';

const TOKEN_URL = '/oauth/client_credential/accesstoken?grant_type=client_credentials';

test('addresses are counted as IPv4 or by IPv6 /64', () => {
  assert.equal(addressKey('192.0.2.7'), '192.0.2.7');
  assert.equal(addressKey('::ffff:192.0.2.7'), '192.0.2.7');
  assert.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(addressKey('2001:db8:0:0:ffff::2'), '2001:db8:0:0::/64');
  assert.equal(addressKey('2001:db8:0:1::1%eth0'), '2001:db8:0:1::/64');
  assert.equal(addressKey('::1'), '0:0:0:0::/64');
  assert.equal(addressKey('64:ff9b::192.0.2.1'), '64:ff9b:0:0::/64');
});

test('a failure window slides, refunds reservations and stays bounded', () => {
  const window = new FailureWindow(3, 1000, 100);
  for (const at of [0, 100, 200]) window.add('k', at);
  assert.equal(window.waitMs('k', 300), 700, 'free when the first failure leaves the window');
  window.remove('k', 200);
  assert.equal(window.waitMs('k', 300), 0, 'a refunded reservation does not count');
  window.add('k', 300);
  assert.equal(window.waitMs('k', 900), 100);
  assert.equal(window.waitMs('k', 1000), 0);
  for (let i = 0; i < 1000; i++) window.add(`key-${i}`, 2000);
  assert.ok(window.size <= 100, `bounded: ${window.size} keys`);
});

test('the hash queue runs two at once, lets the first lane pass, refuses when full', async () => {
  const queue = new HashQueue({ concurrency: 2, maxWaiting: 2 });
  const started: string[] = [];
  const gates = new Map<string, () => void>();
  const job = (name: string) => () =>
    new Promise<string>((resolve) => {
      started.push(name);
      gates.set(name, () => resolve(name));
    });
  const runs = ['a', 'b', 'c', 'd'].map((n) => queue.run(job(n)));
  await assert.rejects(queue.run(job('e')), HashQueueFull);
  const known = queue.run(job('known'), true);
  assert.deepEqual(started, ['a', 'b']);
  assert.deepEqual(queue.stats, { running: 2, waiting: 3 });
  gates.get('a')!();
  await runs[0];
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(started, ['a', 'b', 'known'], 'the first lane goes ahead of c and d');
  for (const name of ['b', 'known']) gates.get(name)!();
  await known;
  await new Promise((r) => setImmediate(r));
  for (const name of ['c', 'd']) gates.get(name)!();
  await Promise.all(runs);
  assert.deepEqual(queue.stats, { running: 0, waiting: 0 });
});

for (const dialect of dialects()) {
  describe(`token endpoint limits (${dialect.name})`, () => {
    let store: TestStore;
    before(async () => {
      store = await dialect.open();
    });
    after(async () => {
      await store.close();
    });

    /**
     * An app whose secret checks are counted, and held while `hold()` is in force. With
     * `memo`, a secret already checked against a hash is answered from memory (scrypt costs
     * 240 ms here; the first test is about counting, not about the cost).
     */
    async function start(env: Record<string, string> = {}, memo = false) {
      const clock = { now: TEST_EPOCH };
      const checked: string[] = [];
      const finished: string[] = [];
      const known = new Map<string, boolean>();
      const queue = new HashQueue();
      let gate: Promise<void> | undefined;
      const hold = () => {
        let release!: () => void;
        gate = new Promise<void>((resolve) => {
          release = resolve;
        });
        return release;
      };
      const app = await buildApp({
        config: loadConfig({ SECUREMAIL_DATA_DIR: '/nonexistent-test-dir', ...env }),
        store,
        logger: false,
        now: () => clock.now,
        tokenHashQueue: queue,
        verifySecret: async (secret, stored) => {
          checked.push(secret);
          await gate;
          const key = `${secret}\n${stored}`;
          const valid = (memo ? known.get(key) : undefined) ?? (await verifySecret(secret, stored));
          known.set(key, valid);
          finished.push(secret);
          return valid;
        },
      });
      await app.ready();
      return { app, clock, checked, finished, queue, hold };
    }

    const ask = (app: FastifyInstance, id: string, secret: string, remoteAddress: string) =>
      app.inject({
        method: 'POST',
        url: TOKEN_URL,
        remoteAddress,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ client_id: id, client_secret: secret }).toString(),
      });

    function assertLimited(response: LightMyRequestResponse, seconds: number, by: RegExp) {
      assert.equal(response.statusCode, 429, response.body);
      assert.equal(response.headers['retry-after'], String(seconds));
      const body = response.json();
      assert.equal(body.name, 'too_many_attempts');
      assert.equal(body.status, 429);
      assert.equal(body.info, 'docs/errors.md#too_many_attempts');
      assert.equal(typeof body.transactionId, 'string');
      assert.match(body.message, by);
    }

    test('failures beyond the client and address limits get 429 without a secret check', async () => {
      const { app, clock, checked } = await start(
        {
          SECUREMAIL_TOKEN_FAILURES_PER_CLIENT: '3',
          SECUREMAIL_TOKEN_FAILURES_PER_ADDRESS: '5',
          SECUREMAIL_TOKEN_FAILURE_WINDOW_SECONDS: '300',
        },
        true,
      );
      try {
        const a = await createClient(store, { name: 'a' }, clock.now);
        // Successes do not count.
        for (let i = 0; i < 4; i++)
          assert.equal((await ask(app, a.clientId, a.clientSecret, '10.0.0.1')).statusCode, 200);
        for (let i = 0; i < 3; i++)
          assert.equal((await ask(app, a.clientId, 'wrong', '10.0.0.1')).statusCode, 401);
        assert.equal(checked.length, 7);
        clock.now += 60_000;
        assertLimited(await ask(app, a.clientId, 'wrong', '10.0.0.1'), 240, /client id/);
        // The right secret from an address that never proved it waits as well.
        assertLimited(await ask(app, a.clientId, a.clientSecret, '10.0.0.2'), 240, /client id/);
        assert.equal(checked.length, 7, 'refused attempts cost no secret check');

        // Someone who knows client b's id cannot keep b from its tokens: b's own address got
        // a token before and is not refused; a new address is.
        const b = await createClient(store, { name: 'b' }, clock.now);
        assert.equal((await ask(app, b.clientId, b.clientSecret, '10.0.1.1')).statusCode, 200);
        for (let i = 0; i < 3; i++)
          assert.equal((await ask(app, b.clientId, 'guess', '10.0.9.9')).statusCode, 401);
        assertLimited(await ask(app, b.clientId, 'guess', '10.0.9.9'), 300, /client id/);
        assert.equal((await ask(app, b.clientId, b.clientSecret, '10.0.1.1')).statusCode, 200);
        assertLimited(await ask(app, b.clientId, b.clientSecret, '10.0.1.2'), 300, /client id/);

        // Per address: five unknown client ids, then the address waits, whatever the id.
        for (let i = 0; i < 5; i++) {
          const response = await ask(app, `nobody${i}`, 'x', '2001:db8::1');
          assert.equal(response.statusCode, 401);
        }
        const before = checked.length;
        assertLimited(await ask(app, 'nobody-else', 'x', '2001:db8::2'), 300, /address/);
        assert.equal(checked.length, before);
        assert.equal((await ask(app, 'nobody-else', 'x', '2001:db8:0:1::1')).statusCode, 401);

        // 64 parallel wrong secrets for one client id: 3 are checked, 61 refused unchecked.
        checked.length = 0;
        const victim = await createClient(store, { name: 'victim' }, clock.now);
        const same = await Promise.all(
          Array.from({ length: 64 }, (_, i) =>
            ask(app, victim.clientId, 'wrong', `203.0.113.${i}`),
          ),
        );
        assert.equal(same.filter((r) => r.statusCode === 401).length, 3);
        assert.equal(same.filter((r) => r.statusCode === 429).length, 61);
        assert.equal(checked.length, 3);
        // The window slides: once the failures are older than it, a is served again.
        clock.now += 240_000;
        assert.equal((await ask(app, a.clientId, a.clientSecret, '10.0.0.2')).statusCode, 200);
      } finally {
        await app.close();
      }
    });

    test('a known client gets its token ahead of 64 parallel wrong secrets', async () => {
      const { app, clock, checked, finished, queue, hold } = await start();
      try {
        const known = await createClient(store, { name: 'known' }, clock.now);
        // Its address got a token before.
        assert.equal(
          (await ask(app, known.clientId, known.clientSecret, '192.0.2.1')).statusCode,
          200,
        );
        checked.length = 0;
        finished.length = 0;
        const release = hold();

        const order: string[] = [];
        const flood = Array.from({ length: 64 }, (_, i) =>
          ask(app, randomBytes(16).toString('hex'), 'wrong', `198.51.100.${i + 1}`).then((r) => {
            order.push(String(r.statusCode));
            return r;
          }),
        );
        // Two checks run, eight wait; the other 54 are told at once to come back.
        await waitFor(() => order.length === 54);
        assert.deepEqual(new Set(order), new Set(['503']), 'the overflow is answered at once');
        assert.equal(checked.length, 2);
        assert.deepEqual(queue.stats, { running: 2, waiting: 8 });

        const valid = ask(app, known.clientId, known.clientSecret, '192.0.2.1').then((r) => {
          order.push('valid');
          return r;
        });
        await waitFor(() => queue.stats.waiting === 9);
        release();
        const answer = await valid;
        assert.equal(answer.statusCode, 200, answer.body);
        const responses = await Promise.all(flood);
        assert.equal(checked.length, 11);
        assert.equal(
          checked[2],
          known.clientSecret,
          'the known client is checked right after the two running',
        );
        // Without the first lane it would have been checked 11th and finished last.
        assert.ok(
          finished.indexOf(known.clientSecret) <= 4,
          `finished among the first: ${finished.indexOf(known.clientSecret)}`,
        );
        assert.ok(
          order.length - order.indexOf('valid') > 3,
          `answered before the last of the wrong secrets: ${order.slice(54)}`,
        );
        assert.equal(responses.filter((r) => r.statusCode === 401).length, 10);
        for (const r of responses.filter((r) => r.statusCode === 503)) {
          assert.equal(r.json().name, 'service_unavailable');
          assert.equal(r.headers['retry-after'], '1');
        }
      } finally {
        await app.close();
      }
    });
  });
}

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (condition()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error('condition not reached');
}
