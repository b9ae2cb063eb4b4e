// Retention really runs for each kind of data (docs/privacy.md): bodies go as their message
// completes (the default of 0 days), webhook events and account notices a week after they
// were delivered or sent (they were never deleted before), and whatever is still pending or
// unsent stays.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import { applyPrivacyRetention } from '../../src/privacy/retention.ts';
import { applyBodyRetention } from '../../src/recipients/retention.ts';
import {
  type FeedbackStore,
  makeAccount,
  makeMessage,
  openFeedbackStore,
  type TestAccount,
} from '../inbound/support.ts';
import { dialects } from '../support/db.ts';

const DAY = 86_400_000;
const NOW = 100 * DAY;

for (const dialect of dialects()) {
  describe(`retention of every kind (${dialect.name})`, () => {
    let fs: FeedbackStore;
    let account: TestAccount;
    const config = loadConfig({ SECUREMAIL_DATA_DIR: '/nonexistent-test-dir' });
    before(async () => {
      fs = await openFeedbackStore(dialect);
      account = await makeAccount(fs.store, 'retention.example');
    });
    after(() => fs.close());

    test('the defaults: bodies at completion, subjects after 7 days, events and notices after 7', () => {
      assert.equal(config.delivery.bodyRetentionMs, 0);
      assert.equal(config.delivery.subjectRetentionMs, 7 * DAY);
      assert.equal(config.privacy.webhookEventRetentionMs, 7 * DAY);
      assert.equal(config.privacy.noticeRetentionMs, 7 * DAY);
    });

    test('a body goes as its message completes; one still being sent stays', async () => {
      const [done] = await makeMessage(fs.db, account, ['a@remote.example'], 'delivered');
      const [open] = await makeMessage(fs.db, account, ['b@remote.example'], 'queued');
      for (const r of [done!, open!]) {
        await fs.db
          .updateTable('messages')
          .set({ body_sealed: 'sealed' })
          .where('id', '=', r.messageId)
          .execute();
      }
      await fs.db
        .updateTable('messages')
        .set({ completed_at: NOW })
        .where('id', '=', done!.messageId)
        .execute();
      assert.ok((await applyBodyRetention(fs.db, config.delivery, NOW)) >= 1);
      const body = async (id: string) =>
        (
          await fs.db
            .selectFrom('messages')
            .select('body_sealed')
            .where('id', '=', id)
            .executeTakeFirstOrThrow()
        ).body_sealed;
      assert.equal(await body(done!.messageId), null);
      assert.equal(await body(open!.messageId), 'sealed');
    });

    test('webhook events and notices go a week after they finished; pending and unsent ones stay', async () => {
      const event = (state: 'pending' | 'delivered', finished: number | null) => ({
        id: randomUUID(),
        account_id: account.accountId,
        ordering_key: `recipient:${randomUUID()}`,
        seq: 1,
        type: 'delivered',
        payload: '{}',
        state,
        attempts: 1,
        next_attempt_at: 0,
        lease_owner: null,
        lease_until: null,
        last_error: null,
        created_at: 0,
        finished_at: finished,
      });
      const old = event('delivered', NOW - 8 * DAY);
      const recent = event('delivered', NOW - 6 * DAY);
      const pending = event('pending', null);
      await fs.db.insertInto('webhook_events').values([old, recent, pending]).execute();
      const notice = (sent: number | null) => ({
        id: randomUUID(),
        account_id: account.accountId,
        kind: 'domain_unverified',
        recipient: 'ops@retention.example',
        subject_sealed: 'x',
        body_sealed: 'x',
        created_at: 0,
        sent_at: sent,
      });
      const sentLongAgo = notice(NOW - 8 * DAY);
      const sentLately = notice(NOW - 1 * DAY);
      const unsent = notice(null);
      await fs.db
        .insertInto('account_notifications')
        .values([sentLongAgo, sentLately, unsent])
        .execute();

      const run = await applyPrivacyRetention(fs.db, config.privacy, NOW);
      assert.deepEqual(run, { webhookEventsDeleted: 1, noticesDeleted: 1 });
      const events = (await fs.db.selectFrom('webhook_events').select('id').execute()).map(
        (r) => r.id,
      );
      assert.deepEqual(events.sort(), [recent.id, pending.id].sort());
      const notices = (await fs.db.selectFrom('account_notifications').select('id').execute()).map(
        (r) => r.id,
      );
      assert.deepEqual(notices.sort(), [sentLately.id, unsent.id].sort());
    });
  });
}
