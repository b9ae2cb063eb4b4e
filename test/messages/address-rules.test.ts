// Every route that takes an address refuses the same bad ones (control characters, line
// separators, invisible characters, spaces outside quotes) with a 400 naming the field, and
// has then stored nothing: POST /message (sender, recipients, From), POST and PATCH /account,
// the suppression list and POST /security/check. Good unusual addresses are kept canonical.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { mime, SENDER_DOMAIN, startWorld, type World } from '../delivery/support.ts';
import { dialects, type TestStore } from '../support/db.ts';

/** Local parts that no route may accept, with what the answer must say. */
const BAD_LOCAL: Array<[string, RegExp]> = [
  ['jan doe', /space outside quotes/],
  [' jan', /space outside quotes/],
  ['ja\u2028n', /U\+2028/],
  ['jan\u2029', /U\+2029/],
  ['jan\u0085', /U\+0085/],
  ['"ja\u0007n"', /U\+0007/],
  ['jan\u009b', /U\+009B/],
  ['jan\n', /U\+000A/],
  ['ja\u00a0n', /U\+00A0/],
  ['ja\u200bn', /U\+200B/],
  ['"ja\u2028n"', /U\+2028/],
];

for (const dialect of dialects()) {
  describe(`address rules on every route (${dialect.name})`, () => {
    let store: TestStore;
    let w: World;

    before(async () => {
      store = await dialect.open();
      w = await startWorld(store);
    });
    after(async () => {
      await w.close();
      await store.close();
    });

    const rows = async (table: 'messages' | 'accounts' | 'suppressions') =>
      Number(
        (
          await store.db
            .selectFrom(table)
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const call = (method: 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
      w.app.inject({
        method,
        url,
        headers: w.tenant.auth,
        ...(payload === undefined ? {} : { payload }),
      });
    function refused(response: LightMyRequestResponse, field: string, why: RegExp, what: string) {
      assert.equal(response.statusCode, 400, `${what}: ${response.body}`);
      const body = response.json();
      assert.equal(body.name, 'validation_failed', what);
      assert.equal(body.field, field, what);
      assert.match(body.message, why, what);
    }

    test('bad addresses are refused everywhere and nothing is stored', async () => {
      const before = {
        messages: await rows('messages'),
        accounts: await rows('accounts'),
        suppressions: await rows('suppressions'),
      };
      for (const [local, why] of BAD_LOCAL) {
        const what = JSON.stringify(local);
        const recipient = `${local}@example.org`;
        const own = `${local}@${SENDER_DOMAIN}`;
        refused(
          await w.submit({
            sender: `news@${SENDER_DOMAIN}`,
            recipients: ['ok@example.org', recipient],
            message: mime({}),
          }),
          'recipients.1',
          why,
          `recipient ${what}`,
        );
        refused(
          await w.submit({ sender: own, recipients: ['ok@example.org'], message: mime({}) }),
          'sender',
          why,
          `sender ${what}`,
        );
        refused(
          await call('POST', '/account', { domain: 'other.nl', notification_email: recipient }),
          'notification_email',
          why,
          `POST /account ${what}`,
        );
        refused(
          await call('PATCH', `/account?domain=${SENDER_DOMAIN}`, {
            notification_email: recipient,
          }),
          'notification_email',
          why,
          `PATCH /account ${what}`,
        );
        refused(
          await call('POST', `/account/suppressions?domain=${SENDER_DOMAIN}`, {
            address: recipient,
          }),
          'address',
          why,
          `suppression ${what}`,
        );
        refused(
          await call(
            'DELETE',
            `/account/suppressions?domain=${SENDER_DOMAIN}&address=${encodeURIComponent(recipient)}`,
          ),
          'query.address',
          why,
          `suppression removal ${what}`,
        );
        refused(
          await call('POST', '/security/check', { recipients: [recipient] }),
          'recipients.0',
          why,
          `security check ${what}`,
        );
      }
      // The From header's address passes the same check.
      refused(
        await w.submit({
          sender: `news@${SENDER_DOMAIN}`,
          recipients: ['ok@example.org'],
          message: mime({ From: `Shop <ne ws@${SENDER_DOMAIN}>`.replace(' ws', '\u0085ws') }),
        }),
        'message',
        /From address: .*U\+0085/,
        'From header',
      );
      assert.deepEqual(
        {
          messages: await rows('messages'),
          accounts: await rows('accounts'),
          suppressions: await rows('suppressions'),
        },
        before,
      );
      const account = await w.app.inject({
        method: 'GET',
        url: `/account?domain=${SENDER_DOMAIN}`,
        headers: w.tenant.auth,
      });
      assert.equal(account.json().notification_email, 'ops@notify.test');
    });

    test('quoted and internationalised addresses are accepted in their simplest form', async () => {
      const created = await call('POST', '/account', {
        domain: 'shop-two.nl',
        notification_email: '"ops team"@shop-two.nl',
      });
      assert.equal(created.statusCode, 201, created.body);
      assert.equal(created.json().notification_email, '"ops team"@shop-two.nl');
      const patched = await call('PATCH', '/account?domain=shop-two.nl', {
        notification_email: '"jöhn"@Shop-Two.NL',
      });
      assert.equal(patched.statusCode, 200, patched.body);
      assert.equal(patched.json().notification_email, 'jöhn@shop-two.nl');
      const suppressed = await call('POST', `/account/suppressions?domain=${SENDER_DOMAIN}`, {
        address: '"John Doe"@Example.org',
      });
      assert.equal(suppressed.statusCode, 201, suppressed.body);
      assert.equal(suppressed.json().address, '"john doe"@example.org');
      const accepted = await w.submit({
        sender: `"news desk"@${SENDER_DOMAIN}`,
        recipients: ['"John Doe"@example.org', '"x\\y"@example.org', 'jan@exämple.org'],
        message: mime({ From: `"news desk"@${SENDER_DOMAIN}` }),
      });
      assert.equal(accepted.statusCode, 202, accepted.body);
      assert.equal(accepted.json().sender, `"news desk"@${SENDER_DOMAIN}`);
      assert.deepEqual(accepted.json().recipients, [
        { address: '"John Doe"@example.org', status: 'suppressed' },
        { address: 'xy@example.org', status: 'queued' },
        { address: 'jan@xn--exmple-cua.org', status: 'queued' },
      ]);
    });
  });
}
