// PATCH /account?domain=: changing the policy level and notification address of an account.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { findAccount } from '../../src/store/accounts.repository.ts';
import { startTestApp, type Tenant, type TestApp } from '../support/app.ts';
import { dialects, type TestStore } from '../support/db.ts';

for (const dialect of dialects()) {
  describe(`PATCH /account (${dialect.name})`, () => {
    let store: TestStore;
    let t: TestApp;
    let alice: Tenant;
    let bob: Tenant;

    before(async () => {
      store = await dialect.open();
      t = await startTestApp(store);
      alice = await t.tenant('alice');
      bob = await t.tenant('bob');
      const created = await t.app.inject({
        method: 'POST',
        url: '/account',
        headers: alice.auth,
        payload: { domain: 'shop.nl', notification_email: 'ops@shop.nl' },
      });
      assert.equal(created.statusCode, 201, created.body);
    });
    after(async () => {
      await t.close();
      await store.close();
    });

    const patch = (tenant: Tenant | undefined, payload: unknown, domain = 'shop.nl') =>
      t.app.inject({
        method: 'PATCH',
        url: `/account?domain=${encodeURIComponent(domain)}`,
        headers: tenant?.auth ?? {},
        payload: payload as object,
      });

    test('changes the policy level; the stored account (read by the worker) follows', async () => {
      const before = await findAccount(store.db, alice.clientId, 'shop.nl');
      assert.equal(before?.policy_level, 'verified');
      t.clock.now += 60_000;

      const response = await patch(alice, { policy_level: 'dane-only' });
      assert.equal(response.statusCode, 200, response.body);
      const view = response.json();
      assert.equal(view.policy_level, 'dane-only');
      assert.equal(view.notification_email, 'ops@shop.nl', 'other fields unchanged');
      assert.deepEqual(view.domain, { name: 'shop.nl', state: 'unverified' });
      assert.ok(view.sending_dns_records.ses.value.length > 20, 'the full account view');
      assert.equal(view.updated_at, new Date(t.clock.now).toISOString());
      assert.equal(view.created_at, new Date(before!.created_at).toISOString());

      const stored = await findAccount(store.db, alice.clientId, 'shop.nl');
      assert.equal(stored?.policy_level, 'dane-only');
      const read = await t.app.inject({
        method: 'GET',
        url: '/account?domain=shop.nl',
        headers: alice.auth,
      });
      assert.equal(read.json().policy_level, 'dane-only');

      const back = await patch(alice, { policy_level: 'authenticated' });
      assert.equal(back.json().policy_level, 'authenticated');
    });

    test('changes the notification address, validated like on creation', async () => {
      const response = await patch(alice, { notification_email: 'Security@Shop.nl' });
      assert.equal(response.statusCode, 200, response.body);
      assert.equal(response.json().notification_email, 'Security@shop.nl');

      // A stray space is refused like any space outside quotes, not trimmed.
      for (const address of ['not-an-address', 'ops@shop.nl ']) {
        const bad = await patch(alice, { notification_email: address });
        assert.equal(bad.statusCode, 400);
        assert.equal(bad.json().field, 'notification_email');
      }
      assert.equal(
        (await findAccount(store.db, alice.clientId, 'shop.nl'))?.notification_email,
        'Security@shop.nl',
        'nothing changed',
      );
    });

    test('both fields at once', async () => {
      const response = await patch(alice, {
        policy_level: 'verified',
        notification_email: 'ops@shop.nl',
      });
      assert.equal(response.statusCode, 200, response.body);
      assert.equal(response.json().policy_level, 'verified');
      assert.equal(response.json().notification_email, 'ops@shop.nl');
    });

    test('a bad level is 400 naming policy_level and changes nothing', async () => {
      for (const level of ['none', 'plaintext', '', 3, null]) {
        const response = await patch(alice, { policy_level: level });
        assert.equal(response.statusCode, 400, JSON.stringify(level));
        assert.equal(response.json().name, 'validation_failed');
        assert.equal(response.json().field, 'policy_level');
      }
      const bad = await patch(alice, { policy_level: 'none', notification_email: 'x@shop.nl' });
      assert.equal(bad.statusCode, 400);
      const stored = await findAccount(store.db, alice.clientId, 'shop.nl');
      assert.equal(stored?.policy_level, 'verified');
      assert.equal(stored?.notification_email, 'ops@shop.nl');
    });

    test('an empty body, an unknown field or no JSON object: 400', async () => {
      const empty = await patch(alice, {});
      assert.equal(empty.statusCode, 400);
      assert.equal(empty.json().name, 'validation_failed');
      assert.match(empty.json().message, /at least one field/);

      const unknown = await patch(alice, { policy_level: 'verified', state: 'valid' });
      assert.equal(unknown.statusCode, 400);
      assert.equal(unknown.json().field, 'state');

      const bounce = await patch(alice, { bounce_subdomain: 'mail' });
      assert.equal(bounce.statusCode, 400);
      assert.equal(bounce.json().field, 'bounce_subdomain');

      const array = await patch(alice, ['verified']);
      assert.equal(array.statusCode, 400);
    });

    test("another tenant's account is 404 and stays unchanged", async () => {
      const response = await patch(bob, { policy_level: 'dane-only' });
      assert.equal(response.statusCode, 404);
      assert.equal(response.json().name, 'account_not_found');
      assert.equal(
        (await findAccount(store.db, alice.clientId, 'shop.nl'))?.policy_level,
        'verified',
      );
      const missing = await patch(alice, { policy_level: 'dane-only' }, 'nothere.nl');
      assert.equal(missing.statusCode, 404);
    });

    test('a bad domain is 400; no token is 401', async () => {
      const bad = await patch(alice, { policy_level: 'verified' }, 'not a domain');
      assert.equal(bad.statusCode, 400);
      assert.equal(bad.json().field, 'domain');
      const anonymous = await patch(undefined, { policy_level: 'dane-only' });
      assert.equal(anonymous.statusCode, 401);
    });
  });
}
