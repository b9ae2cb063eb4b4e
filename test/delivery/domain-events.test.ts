// A domain losing its records goes back to unverified: webhook subscribers get a
// domain_state_changed event and the account's address a notice, both from the verifier.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { queueAccountNotices } from '../../src/notify/notifications.ts';
import { dialects, type TestStore } from '../support/db.ts';
import { SENDER_DOMAIN, startWorld, type World } from './support.ts';

describe('domain state changes', () => {
  let store: TestStore;
  let w: World;

  before(async () => {
    store = await dialects()[0]!.open();
    w = await startWorld(store, { SECUREMAIL_WEBHOOK_ALLOW_PRIVATE: 'true' });
  });
  after(async () => {
    await w.close();
    await store.close();
  });

  test('reach the webhook outbox and the notification address', async () => {
    w.dns.set('hooks.shop.test', [{ type: 'A', data: '127.0.0.1' }]);
    const hook = await w.app.inject({
      method: 'PUT',
      url: `/account/webhook?domain=${SENDER_DOMAIN}`,
      headers: w.tenant.auth,
      payload: {
        url: 'https://hooks.shop.test/events',
        events: ['domain_state_changed', 'delivered'],
      },
    });
    assert.equal(hook.statusCode, 201, hook.body);

    for (const key of w.account.sending_dns_records.dkim) w.dns.remove(key.hostname);
    const verified = await w.app.inject({
      method: 'POST',
      url: `/account/verify?domain=${SENDER_DOMAIN}`,
      headers: w.tenant.auth,
    });
    assert.equal(verified.json().domain.state, 'unverified');

    const events = await store.db.selectFrom('webhook_events').selectAll().execute();
    assert.deepEqual(
      events.map((e) => [e.type, JSON.parse(e.payload).data.state]),
      [['domain_state_changed', 'unverified']],
    );
    const queued = await queueAccountNotices({
      store,
      masterKey: w.masterKey,
      hostname: 'platform.test',
      now: () => w.clock.now,
    });
    assert.equal(queued, 1);
  });
});
