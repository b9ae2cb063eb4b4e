import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { quotaWindow } from '../../src/api/quota-window.ts';
import { createClient } from '../../src/clients/clients-service.ts';
import { takeQuota } from '../../src/store/quota.repository.ts';
import { requestToken, startTestApp } from '../support/app.ts';
import { dialects } from '../support/db.ts';

describe('quota windows', () => {
  test('fixed windows per unit and interval', () => {
    const t = Date.UTC(2026, 10, 28, 12, 34, 56, 789);
    assert.deepEqual(quotaWindow(t, 1, 'minute'), {
      start: Date.UTC(2026, 10, 28, 12, 34),
      end: Date.UTC(2026, 10, 28, 12, 35),
    });
    assert.deepEqual(quotaWindow(t, 1, 'day'), {
      start: Date.UTC(2026, 10, 28),
      end: Date.UTC(2026, 10, 29),
    });
    assert.deepEqual(quotaWindow(t, 15, 'second'), {
      start: Date.UTC(2026, 10, 28, 12, 34, 45),
      end: Date.UTC(2026, 10, 28, 12, 35),
    });
    assert.deepEqual(quotaWindow(t, 1, 'month'), {
      start: Date.UTC(2026, 10, 1),
      end: Date.UTC(2026, 11, 1),
    });
    assert.deepEqual(quotaWindow(Date.UTC(2026, 11, 31), 1, 'month'), {
      start: Date.UTC(2026, 11, 1),
      end: Date.UTC(2027, 0, 1),
    });
    // Weeks run Monday to Monday, UTC (28 November 2026 is a Saturday).
    assert.deepEqual(quotaWindow(t, 1, 'week'), {
      start: Date.UTC(2026, 10, 23),
      end: Date.UTC(2026, 10, 30),
    });
    assert.deepEqual(quotaWindow(Date.UTC(2026, 10, 30), 1, 'week'), {
      start: Date.UTC(2026, 10, 30),
      end: Date.UTC(2026, 11, 7),
    });
    const fortnight = quotaWindow(t, 2, 'week');
    assert.equal(fortnight.end - fortnight.start, 14 * 86_400_000);
    assert.equal(new Date(fortnight.start).getUTCDay(), 1, 'a Monday');
    assert.ok(fortnight.start <= t && t < fortnight.end);
  });

  test('SECUREMAIL_QUOTA_TIME_UNIT=week is announced in the headers', async () => {
    const store = await dialects()[0]!.open();
    const app = await startTestApp(store, { SECUREMAIL_QUOTA_TIME_UNIT: 'week' });
    try {
      const tenant = await app.tenant();
      const response = await app.app.inject({
        method: 'GET',
        url: '/accounts',
        headers: tenant.auth,
      });
      assert.equal(response.headers['quota-time-unit'], 'week');
      assert.equal(
        Number(response.headers['quota-reset-utc']),
        quotaWindow(app.clock.now, 1, 'week').end,
      );
    } finally {
      await app.close();
      await store.close();
    }
  });
});

for (const dialect of dialects()) {
  describe(`quota (${dialect.name})`, () => {
    test('over the quota: 429 with Retry-After, and the count stays at the limit', async () => {
      const store = await dialect.open();
      const t = await startTestApp(store, { SECUREMAIL_QUOTA_LIMIT: '3' });
      try {
        const tenant = await t.tenant();
        const statuses: number[] = [];
        let last = await t.app.inject({
          method: 'GET',
          url: '/account?domain=q.nl',
          headers: tenant.auth,
        });
        statuses.push(last.statusCode);
        for (let i = 0; i < 4; i++) {
          last = await t.app.inject({
            method: 'GET',
            url: '/account?domain=q.nl',
            headers: tenant.auth,
          });
          statuses.push(last.statusCode);
        }
        assert.deepEqual(statuses, [404, 404, 404, 429, 429]);
        assert.equal(last.json().name, 'quota_exceeded');
        assert.equal(last.headers['quota-used'], '3');
        assert.equal(last.headers['quota-limit'], '3');
        // The test clock stands 30 s into the minute.
        assert.equal(last.headers['retry-after'], '30');

        // The next window starts from zero.
        t.clock.now += 30_000;
        const fresh = await t.app.inject({
          method: 'GET',
          url: '/account?domain=q.nl',
          headers: tenant.auth,
        });
        assert.equal(fresh.statusCode, 404);
        assert.equal(fresh.headers['quota-used'], '1');
      } finally {
        await t.close();
        await store.close();
      }
    });

    test('a client’s own quota overrides the default', async () => {
      const store = await dialect.open();
      const t = await startTestApp(store);
      try {
        const tenant = await t.tenant('small', 1);
        const first = await t.app.inject({
          method: 'GET',
          url: '/account?domain=q.nl',
          headers: tenant.auth,
        });
        assert.equal(first.headers['quota-limit'], '1');
        const second = await t.app.inject({
          method: 'GET',
          url: '/account?domain=q.nl',
          headers: tenant.auth,
        });
        assert.equal(second.statusCode, 429);
      } finally {
        await t.close();
        await store.close();
      }
    });

    test('concurrent takes never exceed the limit', async () => {
      const store = await dialect.open();
      try {
        const { clientId } = await createClient(store, { name: 'race' }, 0);
        const results = await Promise.all(
          Array.from({ length: 40 }, () => takeQuota(store.db, clientId, 0, 25)),
        );
        assert.equal(results.filter((r) => r.allowed).length, 25);
        assert.deepEqual(
          results
            .filter((r) => r.allowed)
            .map((r) => r.used)
            .sort((a, b) => a - b),
          Array.from({ length: 25 }, (_, i) => i + 1),
        );
      } finally {
        await store.close();
      }
    });

    test('two app instances on one database share the count', async () => {
      const store = await dialect.open();
      const sibling = await store.openSibling();
      const env = { SECUREMAIL_QUOTA_LIMIT: '10' };
      const one = await startTestApp(store, env);
      const two = await startTestApp(sibling, env);
      two.clock.now = one.clock.now;
      try {
        const { clientId, clientSecret } = await createClient(
          store,
          { name: 'shared' },
          one.clock.now,
        );
        const token = await requestToken(one.app, clientId, clientSecret);
        const headers = { authorization: `Bearer ${token}` };
        const responses = await Promise.all(
          Array.from({ length: 16 }, (_, i) =>
            (i % 2 === 0 ? one : two).app.inject({
              method: 'GET',
              url: '/account?domain=q.nl',
              headers,
            }),
          ),
        );
        const codes = responses.map((r) => r.statusCode);
        assert.equal(codes.filter((c) => c === 404).length, 10, codes.join(','));
        assert.equal(codes.filter((c) => c === 429).length, 6, codes.join(','));
        const used = responses
          .filter((r) => r.statusCode === 404)
          .map((r) => Number(r.headers['quota-used']));
        assert.deepEqual(
          used.sort((a, b) => a - b),
          [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        );
      } finally {
        await one.close();
        await two.close();
        await store.close();
      }
    });
  });
}
