// Inputs that passed the schema but broke the route: recipient lists of any length (checked
// address by address, seconds of event loop), and times the date-time format accepts but a
// Date cannot hold (a leap second). Each is now a 400 naming the field, and nothing changes.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mime, SENDER_DOMAIN, startWorld, type World } from '../delivery/support.ts';
import { dialects, type TestStore } from '../support/db.ts';

for (const dialect of dialects()) {
  describe(`input limits (${dialect.name})`, () => {
    let store: TestStore;
    let w: World;

    before(async () => {
      store = await dialect.open();
      w = await startWorld(store, { SECUREMAIL_MAX_RECIPIENTS: '50' });
    });
    after(async () => {
      await w.close();
      await store.close();
    });

    const count = async () =>
      Number(
        (
          await store.db
            .selectFrom('messages')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );

    test('a 2,000,000-entry recipient list is refused by the schema, before any address is read', async () => {
      const max = w.config.sending.maxRecipients;
      // One address 2,000,000 times (18 MB): before, every entry was checked (7.8 s on the
      // event loop here) and the duplicates collapsed into a message that was accepted.
      const entries = `${'"a@example.org",'.repeat(2_000_000 - 1)}"a@example.org"`;
      const payload = `{"sender":"news@${SENDER_DOMAIN}","recipients":[${entries}],"message":${JSON.stringify(mime({}))}}`;
      const response = await w.app.inject({
        method: 'POST',
        url: '/message',
        headers: { ...w.tenant.auth, 'content-type': 'application/json' },
        payload,
      });
      assert.equal(response.statusCode, 400, response.body.slice(0, 300));
      const body = response.json();
      assert.equal(body.name, 'validation_failed');
      assert.equal(body.field, 'recipients');
      assert.match(body.message, new RegExp(`more than ${max} items`));
      assert.equal(await count(), 0);

      // Exactly the limit is still accepted.
      const atLimit = await w.app.inject({
        method: 'POST',
        url: '/message',
        headers: w.tenant.auth,
        payload: {
          sender: `news@${SENDER_DOMAIN}`,
          recipients: Array.from({ length: max }, (_, i) => `r${i}@example.org`),
          message: mime({}),
        },
      });
      assert.equal(atLimit.statusCode, 202, atLimit.body.slice(0, 300));
    });

    test('POST /security/check refuses a long list the same way', async () => {
      const response = await w.app.inject({
        method: 'POST',
        url: '/security/check',
        headers: w.tenant.auth,
        payload: { recipients: Array.from({ length: 1000 }, (_, i) => `r${i}@example.org`) },
      });
      assert.equal(response.statusCode, 400);
      assert.equal(response.json().field, 'recipients');
      assert.match(response.json().message, /more than \d+ items/);
    });

    test('every time in a query that a Date cannot hold is a 400 with its field', async () => {
      const before = await count();
      const cases: Array<[string, string, RegExp]> = [];
      for (const bad of ['2026-12-31T23:59:60Z', '2026-06-30T23:59:60+00:00']) {
        cases.push([`/messages?since=${encodeURIComponent(bad)}`, 'query.since', /leap second/]);
        cases.push([
          `/account/evidence?domain=${SENDER_DOMAIN}&from=${encodeURIComponent(bad)}`,
          'query.from',
          /leap second/,
        ]);
        cases.push([
          `/account/evidence?domain=${SENDER_DOMAIN}&to=${encodeURIComponent(bad)}`,
          'query.to',
          /leap second/,
        ]);
        cases.push([
          `/account/evidence?domain=${SENDER_DOMAIN}&format=csv&from=2026-01-01T00:00:00Z&to=${encodeURIComponent(bad)}`,
          'query.to',
          /leap second/,
        ]);
      }
      // Dates that do not exist are refused by the format check, with the same field name.
      for (const [param, url] of [
        ['since', '/messages?since='],
        ['from', `/account/evidence?domain=${SENDER_DOMAIN}&from=`],
        ['to', `/account/evidence?domain=${SENDER_DOMAIN}&to=`],
      ] as const) {
        cases.push([`${url}2026-02-30T00:00:00Z`, param, /date-time/]);
      }
      for (const [url, field, message] of cases) {
        const response = await w.app.inject({ method: 'GET', url, headers: w.tenant.auth });
        assert.equal(response.statusCode, 400, `${url}: ${response.body}`);
        const body = response.json();
        assert.equal(body.name, 'validation_failed', url);
        assert.equal(body.field, field, url);
        assert.match(body.message, message, url);
      }
      // And good times still work.
      for (const url of [
        '/messages?since=2026-12-31T23:59:59Z',
        `/account/evidence?domain=${SENDER_DOMAIN}&from=2026-01-01T00:00:00Z&to=2026-12-31T23:59:59.999Z`,
      ]) {
        const response = await w.app.inject({ method: 'GET', url, headers: w.tenant.auth });
        assert.equal(response.statusCode, 200, `${url}: ${response.body}`);
      }
      assert.equal(await count(), before);
    });
  });
}
