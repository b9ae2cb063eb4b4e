// PIPELINING end to end: the test server advertises it (as smtp-server does), so the worker
// sends MAIL, RCPT and DATA together. A recipient refused at RCPT ends `bounced` with the
// RCPT reply, is never counted as delivered, and the next recipient on the same connection
// (after RSET) is delivered on the same connection.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { dialects, type TestStore } from '../support/db.ts';
import { mime, SENDER_DOMAIN, startWorld, type World } from './support.ts';

for (const dialect of dialects()) {
  describe(`pipelining (${dialect.name})`, () => {
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

    test('a pipelined refusal at RCPT bounces that recipient only', async () => {
      const server = await w.addMx('pipe.test', '127.0.0.1', {
        rcptReplies: ['550 5.1.1 no such user'],
      });
      const accepted = await w.submit({
        sender: `news@${SENDER_DOMAIN}`,
        recipients: ['one@pipe.test', 'two@pipe.test'],
        message: mime({}),
      });
      assert.equal(accepted.statusCode, 202, accepted.body);
      await w.drain();
      const status = (
        await w.app.inject({
          method: 'GET',
          url: `/message/${accepted.json().id}`,
          headers: w.tenant.auth,
        })
      ).json();
      const states = status.recipients.map((r: { status: string }) => r.status).sort();
      assert.deepEqual(states, ['bounced', 'delivered']);
      const bounced = status.recipients.find((r: { status: string }) => r.status === 'bounced');
      assert.equal(bounced.reason, 'smtp-permanent-error');
      assert.match(bounced.detail, /^RCPT: 550/);
      const delivered = status.recipients.find((r: { status: string }) => r.status === 'delivered');
      // The server refused DATA after the refused RCPT (554): one message, to the other.
      assert.equal(server.messages.length, 1);
      assert.deepEqual(server.messages[0]!.to, [delivered.address]);
      assert.equal(server.connections, 1, 'the session stayed usable after the refusal');
    });
  });
}
