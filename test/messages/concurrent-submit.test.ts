// Submissions that arrive together may share a commit (SQLite); each still gets the answer
// it would get alone: a repeated Message-ID is a replay or a conflict, never a 500.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mime, SENDER_DOMAIN, startWorld, type World } from '../delivery/support.ts';
import { dialects, type TestStore } from '../support/db.ts';

for (const dialect of dialects()) {
  describe(`concurrent POST /message (${dialect.name})`, () => {
    let store: TestStore;
    let w: World;
    const sender = `news@${SENDER_DOMAIN}`;

    before(async () => {
      store = await dialect.open();
      w = await startWorld(store, { SECUREMAIL_MESSAGES_PER_DAY: '12' });
    });
    after(async () => {
      await w.close();
      await store.close();
    });

    test('the same message sent 6 times at once is accepted once and replayed 5 times', async () => {
      const payload = {
        sender,
        recipients: ['a@x.test'],
        message: mime({ 'Message-ID': `<same@${SENDER_DOMAIN}>` }),
      };
      const responses = await Promise.all(Array.from({ length: 6 }, () => w.submit(payload)));
      assert.deepEqual(
        responses.map((r) => r.statusCode),
        [202, 202, 202, 202, 202, 202],
      );
      assert.equal(responses.filter((r) => r.headers['idempotent-replay'] === 'true').length, 5);
      assert.equal(new Set(responses.map((r) => r.json().id)).size, 1);
    });

    test('one Message-ID with other contents: one accepted, the others conflict', async () => {
      const responses = await Promise.all(
        Array.from({ length: 4 }, (_, i) =>
          w.submit({
            sender,
            recipients: [`r${i}@x.test`],
            message: mime({ 'Message-ID': `<other@${SENDER_DOMAIN}>` }),
          }),
        ),
      );
      const codes = responses.map((r) => r.statusCode).sort();
      assert.deepEqual(codes, [202, 409, 409, 409]);
    });

    test('past the daily limit only the late ones are refused, the rest are stored', async () => {
      // 2 of the 12 are used by the tests above.
      const responses = await Promise.all(
        Array.from({ length: 12 }, () =>
          w.submit({ sender, recipients: ['b@x.test'], message: mime({}) }),
        ),
      );
      const codes = responses.map((r) => r.statusCode);
      assert.equal(codes.filter((c) => c === 202).length, 10, codes.join(','));
      assert.equal(codes.filter((c) => c === 429).length, 2, codes.join(','));
      const stored = await store.db
        .selectFrom('messages')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      assert.equal(Number(stored.n), 12);
    });
  });
}
