// Migration 0008: the notice digest's tables. Before it, a message's notice went out when its
// last recipient became final; the undelivered recipients of messages still open at the
// upgrade must be reported under the new rule, and nothing already reported (complete
// messages) or never reported (our own notifications) may be reported again.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { migrateToLatest } from '../../src/store/migrations.ts';
import { makeAccount, makeMessage } from '../inbound/support.ts';
import { dialects } from '../support/db.ts';

for (const dialect of dialects()) {
  describe(`migration 0008_notice_digest (${dialect.name})`, () => {
    test('carries over the undelivered recipients of open messages only', async (t) => {
      const store = await dialect.open('0007_sealed_content');
      t.after(() => store.close());
      const account = await makeAccount(store, 'shop.example');
      const [openRefused] = await makeMessage(
        store.db,
        account,
        ['a@x.example'],
        'refused_insecure',
      );
      // Its message is still open: another recipient is retried.
      await store.db
        .insertInto('recipients')
        .values({
          id: 'still-deferred',
          message_id: openRefused!.messageId,
          address: 'b@y.example',
          domain: 'y.example',
          status: 'deferred',
          attempts: 1,
          next_attempt_at: 1,
          lease_owner: null,
          lease_until: null,
          reason: null,
          detail: null,
          created_at: 1,
          updated_at: 1,
          final_at: null,
        })
        .execute();
      const [completeBounced] = await makeMessage(store.db, account, ['c@x.example'], 'bounced');
      await store.db
        .updateTable('messages')
        .set({ completed_at: 2 })
        .where('id', '=', completeBounced!.messageId)
        .execute();
      await makeMessage(store.db, account, ['ops@shop.example'], 'failed', 'notification');

      await migrateToLatest(store.db, store.schema);
      const pending = await store.db.selectFrom('pending_notices').selectAll().execute();
      assert.deepEqual(
        pending.map((row) => ({ ...row })),
        [{ recipient_id: openRefused!.id, message_id: openRefused!.messageId, ended_at: 1_000 }],
      );
      assert.deepEqual(await store.db.selectFrom('message_notices').selectAll().execute(), []);
    });
  });
}
