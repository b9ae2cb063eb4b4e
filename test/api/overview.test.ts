// The read-only views the console is built on: GET /stats (per day, methods, TLS, refusal
// reasons), GET /accounts, GET /reasons and GET /account/webhook/deliveries, each scoped to
// the calling tenant, on real deliveries through the in-process world.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createClient } from '../../src/clients/clients-service.ts';
import { addDaneMx } from '../delivery/dane-mx.ts';
import { mime, SENDER_DOMAIN, startWorld, type World } from '../delivery/support.ts';
import { requestToken } from '../support/app.ts';
import { dialects, type TestStore } from '../support/db.ts';

for (const dialect of dialects()) {
  describe(`overview endpoints (${dialect.name})`, () => {
    let store: TestStore;
    let w: World;
    let other: { authorization: string };

    const get = (url: string, headers = w.tenant.auth) =>
      w.app.inject({ method: 'GET', url, headers });

    before(async () => {
      store = await dialect.open();
      w = await startWorld(store, { SECUREMAIL_WEBHOOK_ALLOW_PRIVATE: 'true' });
      w.dns.set('hooks.shop.test', [{ type: 'A', data: '127.0.0.1' }]);
      const hook = await w.app.inject({
        method: 'PUT',
        url: `/account/webhook?domain=${SENDER_DOMAIN}`,
        headers: w.tenant.auth,
        payload: { url: 'https://hooks.shop.test/events' },
      });
      assert.equal(hook.statusCode, 201, hook.body);

      await w.addMx('secure.test', '127.0.0.41');
      await w.addMx('plain.test', '127.0.0.42', { insecure: true });
      await w.addMx('busy.test', '127.0.0.43', { rcptReplies: ['451 4.3.2 try again later'] });
      await w.addMx('gone.test', '127.0.0.44', { rcptReplies: ['550 5.1.1 no such user'] });
      await addDaneMx(w, 'dane.test', '127.0.0.45');
      const accepted = await w.submit({
        sender: `news@${SENDER_DOMAIN}`,
        recipients: [
          'a@secure.test',
          'b@secure.test',
          'c@plain.test',
          'd@busy.test',
          'e@gone.test',
          'f@dane.test',
        ],
        message: mime({}),
      });
      assert.equal(accepted.statusCode, 202, accepted.body);
      await w.drain();

      const client = await createClient(store, { name: 'other', quotaLimit: null }, w.clock.now);
      const token = await requestToken(w.app, client.clientId, client.clientSecret);
      other = { authorization: `Bearer ${token}` };
    });
    after(async () => {
      await w.close();
      await store.close();
    });

    test('GET /stats counts the day, the methods, TLS versions and refusal reasons', async () => {
      const response = await get('/stats?days=7');
      assert.equal(response.statusCode, 200, response.body);
      const stats = response.json();
      assert.equal(stats.domain, null);
      assert.equal(stats.days.length, 7);
      assert.equal(stats.to, '2026-11-29T00:00:00.000Z');
      assert.equal(stats.from, '2026-11-22T00:00:00.000Z');
      const today = stats.days.at(-1);
      assert.deepEqual(today, {
        date: '2026-11-28',
        delivered: 3,
        refused_insecure: 1,
        bounced: 1,
        deferred: 1,
        failed: 0,
      });
      assert.ok(
        stats.days.slice(0, -1).every((d: Record<string, unknown>) => d.delivered === 0),
        'earlier days are empty',
      );
      assert.deepEqual(stats.totals, {
        delivered: 3,
        refused_insecure: 1,
        bounced: 1,
        deferred: 1,
        failed: 0,
      });
      assert.deepEqual(stats.authentication, [
        { method: 'dane', count: 1 },
        { method: 'mta-sts', count: 0 },
        { method: 'pkix', count: 2 },
      ]);
      assert.deepEqual(stats.tls_versions, [{ version: 'TLSv1.3', count: 3 }]);
      assert.equal(stats.refusal_reasons.length, 1);
      assert.equal(stats.refusal_reasons[0].reason, 'starttls-not-supported');
      assert.equal(stats.refusal_reasons[0].count, 1);
      assert.deepEqual(stats.refusal_reasons[0].domains, [{ domain: 'plain.test', count: 1 }]);
      assert.match(stats.refusal_reasons[0].explanation, /does not offer encryption/);
      assert.deepEqual(stats.recipients_by_status, {
        delivered: 3,
        refused_insecure: 1,
        deferred: 1,
        bounced: 1,
      });

      const one = (await get(`/stats?days=30&domain=${SENDER_DOMAIN}`)).json();
      assert.equal(one.days.length, 30);
      assert.equal(one.domain, SENDER_DOMAIN);
      assert.equal(one.totals.delivered, 3);
    });

    test('another tenant sees none of it, and not the domain', async () => {
      const theirs = await get('/stats?days=7', other);
      assert.equal(theirs.statusCode, 200);
      assert.equal(theirs.json().totals.delivered, 0);
      assert.deepEqual(theirs.json().refusal_reasons, []);
      const domain = await get(`/stats?domain=${SENDER_DOMAIN}`, other);
      assert.equal(domain.statusCode, 404);
      assert.equal(domain.json().name, 'account_not_found');
      assert.deepEqual((await get('/accounts', other)).json(), { accounts: [] });
      const hooks = await get(`/account/webhook/deliveries?domain=${SENDER_DOMAIN}`, other);
      assert.equal(hooks.statusCode, 404);
    });

    test('bad parameters name the field', async () => {
      for (const [url, field] of [
        ['/stats?days=91', 'query.days'],
        ['/stats?days=0', 'days'],
        ['/stats?domain=www.shop.nl', 'domain'],
        ['/stats?color=red', 'color'],
        [`/account/webhook/deliveries?domain=${SENDER_DOMAIN}&limit=500`, 'query.limit'],
      ] as const) {
        const response = await get(url);
        assert.equal(response.statusCode, 400, url);
        assert.equal(response.json().field, field, `${url}: ${response.body}`);
      }
      assert.equal((await w.app.inject({ method: 'GET', url: '/stats' })).statusCode, 401);
    });

    test('GET /accounts lists the tenant’s domains with their state', async () => {
      const response = await get('/accounts');
      assert.equal(response.statusCode, 200);
      const [account] = response.json().accounts;
      assert.equal(account.domain, SENDER_DOMAIN);
      assert.equal(account.state, 'valid');
      assert.equal(account.policy_level, 'verified');
    });

    test('GET /reasons explains every reason code', async () => {
      const { reasons } = (await get('/reasons')).json();
      assert.equal(reasons['starttls-not-supported'].class, 'refuse');
      assert.match(reasons['dns-temporary-failure'].explanation, /\w/);
      assert.ok(reasons.suppressed.fix);
      assert.ok(reasons['remote-bounce']);
    });

    test('GET /account/webhook/deliveries lists the events newest first', async () => {
      const response = await get(`/account/webhook/deliveries?domain=${SENDER_DOMAIN}&limit=10`);
      assert.equal(response.statusCode, 200, response.body);
      const { deliveries } = response.json();
      const types = deliveries.map((d: { type: string }) => d.type).sort();
      assert.deepEqual(types, [
        'bounced',
        'deferred',
        'delivered',
        'delivered',
        'delivered',
        'refused_insecure',
      ]);
      for (const d of deliveries) {
        assert.equal(d.state, 'pending', 'no dispatcher runs in this test');
        assert.ok(d.next_attempt_at);
        assert.ok(d.data.recipient ?? d.data.address, JSON.stringify(d.data));
      }
      const times = deliveries.map((d: { created_at: string }) => d.created_at);
      assert.deepEqual(times, [...times].sort().reverse());
    });

    test('the OpenAPI document lists the new endpoints', async () => {
      const doc = (await get('/openapi.json')).json();
      for (const path of ['/stats', '/accounts', '/reasons', '/account/webhook/deliveries']) {
        assert.ok(doc.paths[path]?.get, path);
        assert.deepEqual(doc.paths[path].get.security, [{ oauth2: [] }]);
      }
    });
  });
}
