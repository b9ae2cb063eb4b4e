// POST /message refuses what it cannot send safely, says which field and why, and then
// has stored nothing.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mime, SENDER_DOMAIN, startWorld, type World } from '../delivery/support.ts';
import { dialects, type TestStore } from '../support/db.ts';

for (const dialect of dialects()) {
  describe(`POST /message validation (${dialect.name})`, () => {
    let store: TestStore;
    let w: World;
    const sender = `news@${SENDER_DOMAIN}`;

    before(async () => {
      store = await dialect.open();
      w = await startWorld(store, {
        SECUREMAIL_MAX_RECIPIENTS: '3',
        SECUREMAIL_MAX_MESSAGE_BYTES: '4096',
        SECUREMAIL_MESSAGES_PER_DAY: '3',
      });
    });
    after(async () => {
      await w.close();
      await store.close();
    });

    const count = async (table: 'messages' | 'recipients') =>
      Number(
        (
          await store.db
            .selectFrom(table)
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );

    test('bad submissions name the field and change nothing', async () => {
      await w.app.inject({
        method: 'POST',
        url: '/account',
        headers: w.tenant.auth,
        payload: { domain: 'unverified.nl', notification_email: 'ops@unverified.nl' },
      });
      const cases: Array<
        [string, Record<string, unknown>, number, string, string | undefined, RegExp]
      > = [
        [
          'no Message-ID',
          { sender, recipients: ['a@x.test'], message: mime({ 'Message-ID': '' }) },
          400,
          'validation_failed',
          'message',
          /Message-ID header is missing/,
        ],
        [
          'no Date',
          { sender, recipients: ['a@x.test'], message: mime({ Date: '' }) },
          400,
          'validation_failed',
          'message',
          /Date header is missing/,
        ],
        [
          'malformed MIME',
          { sender, recipients: ['a@x.test'], message: 'this is not a message' },
          400,
          'validation_failed',
          'message',
          /not a header field/,
        ],
        [
          'From outside the sender domain',
          { sender, recipients: ['a@x.test'], message: mime({ From: 'x@evil.test' }) },
          400,
          'validation_failed',
          'message',
          /not in the sender's domain/,
        ],
        [
          'foreign sender domain',
          {
            sender: 'news@other.nl',
            recipients: ['a@x.test'],
            message: mime({ From: 'news@other.nl' }),
          },
          404,
          'account_not_found',
          'sender',
          /no account for other\.nl/,
        ],
        [
          'unverified sender domain',
          {
            sender: 'news@unverified.nl',
            recipients: ['a@x.test'],
            message: mime({ From: 'news@unverified.nl' }),
          },
          412,
          'domain_not_valid',
          'sender',
          /unverified, not valid/,
        ],
        [
          'invalid sender',
          { sender: 'news', recipients: ['a@x.test'], message: mime({}) },
          400,
          'validation_failed',
          'sender',
          /not an e-mail address/,
        ],
        [
          'invalid recipient',
          { sender, recipients: ['a@x.test', 'not an address'], message: mime({}) },
          400,
          'validation_failed',
          'recipients.1',
          /not an e-mail address/,
        ],
        [
          'no recipients',
          { sender, recipients: [], message: mime({}) },
          400,
          'validation_failed',
          'recipients',
          /./,
        ],
        [
          'too many recipients',
          {
            sender,
            recipients: ['a@x.test', 'b@x.test', 'c@x.test', 'd@x.test'],
            message: mime({}),
          },
          400,
          'validation_failed',
          'recipients',
          /more than 3 items/,
        ],
        [
          'both message fields',
          { sender, recipients: ['a@x.test'], message: mime({}), message_base64: 'AA==' },
          400,
          'validation_failed',
          'message',
          /exactly one/,
        ],
        [
          'bad base64',
          { sender, recipients: ['a@x.test'], message_base64: '***' },
          400,
          'validation_failed',
          'message_base64',
          /base64/,
        ],
        [
          'unknown field',
          { sender, recipients: ['a@x.test'], message: mime({}), priority: 'high' },
          400,
          'validation_failed',
          'priority',
          /not a known field/,
        ],
        [
          'oversized message',
          {
            sender,
            recipients: ['a@x.test'],
            message: mime({}, 'x'.repeat(90).concat('\r\n').repeat(60)),
          },
          413,
          'payload_too_large',
          'message',
          /limit is 4096/,
        ],
      ];
      for (const [what, payload, status, name, field, message] of cases) {
        const response = await w.submit(payload);
        assert.equal(response.statusCode, status, `${what}: ${response.body}`);
        const body = response.json();
        assert.equal(body.name, name, what);
        assert.equal(body.field, field, what);
        assert.match(body.message, message, what);
      }
      assert.equal(await count('messages'), 0);
      assert.equal(await count('recipients'), 0);
    });

    test('message_base64 works; suppressed addresses are marked at submission; the daily quota holds', async () => {
      const added = await w.app.inject({
        method: 'POST',
        url: `/account/suppressions?domain=${SENDER_DOMAIN}`,
        headers: w.tenant.auth,
        payload: { address: 'gone@x.test' },
      });
      assert.equal(added.statusCode, 201, added.body);
      const accepted = await w.submit({
        sender,
        recipients: ['ok@x.test', 'GONE@x.test', 'gone@x.test'],
        message_base64: Buffer.from(mime({})).toString('base64'),
      });
      assert.equal(accepted.statusCode, 202, accepted.body);
      assert.deepEqual(
        accepted
          .json()
          .recipients.map((r: { address: string; status: string }) => [r.address, r.status]),
        [
          ['ok@x.test', 'queued'],
          ['GONE@x.test', 'suppressed'],
          ['gone@x.test', 'suppressed'],
        ],
      );
      // One recipient, suppressed: asked together with the account, marked the same way.
      const single = await w.submit({ sender, recipients: ['Gone@X.test'], message: mime({}) });
      assert.equal(single.statusCode, 202, single.body);
      assert.deepEqual(single.json().recipients, [
        { address: 'Gone@x.test', status: 'suppressed' },
      ]);
      const stored = await store.db
        .selectFrom('messages')
        .select('completed_at')
        .where('id', '=', single.json().id)
        .executeTakeFirstOrThrow();
      assert.notEqual(stored.completed_at, null, 'every recipient suppressed: complete at once');
      const last = { sender, recipients: ['ok@x.test'], message: mime({}) };
      const lastAccepted = await w.submit(last);
      assert.equal(lastAccepted.statusCode, 202);
      const spent = await w.submit({ sender, recipients: ['ok@x.test'], message: mime({}) });
      assert.equal(spent.statusCode, 429);
      assert.equal(spent.json().name, 'sending_quota_exceeded');
      assert.match(String(spent.headers['retry-after']), /^\d+$/);
      assert.equal(await count('messages'), 3);
      // With the day's limit reached, a repeat is still answered as the replay it is, and
      // its Message-ID with other contents still as the conflict.
      const replay = await w.submit(last);
      assert.equal(replay.statusCode, 202);
      assert.equal(replay.headers['idempotent-replay'], 'true');
      assert.deepEqual(replay.json(), lastAccepted.json());
      const clash = await w.submit({ ...last, recipients: ['other@x.test'] });
      assert.equal(clash.statusCode, 409);
      assert.equal(clash.json().name, 'message_id_conflict');
      assert.equal(await count('messages'), 3);
    });
  });
}
