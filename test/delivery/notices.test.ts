// Account notices and data retention, on the sending path's real tables.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { queueAccountNotices } from '../../src/notify/notifications.ts';
import { recordAccountNotice } from '../../src/outbox/account-notices.ts';
import { applyRetention } from '../../src/recipients/retention.ts';
import { clearCopies } from '../support/at-rest.ts';
import { dialects, type TestStore } from '../support/db.ts';
import { mime, SENDER_DOMAIN, startWorld, type World } from './support.ts';

const DAY = 86_400_000;

for (const dialect of dialects()) {
  describe(`notices and retention (${dialect.name})`, () => {
    let store: TestStore;
    let w: World;

    before(async () => {
      store = await dialect.open();
      w = await startWorld(store);
      await w.addMx('notify.test', '127.0.0.3');
      await w.addMx('good.test', '127.0.0.1');
    });
    after(async () => {
      await w.close();
      await store.close();
    });

    test('a domain notice recorded by onboarding is mailed to the account, once', async () => {
      const account = await store.db
        .selectFrom('accounts')
        .selectAll()
        .where('domain', '=', SENDER_DOMAIN)
        .executeTakeFirstOrThrow();
      await recordAccountNotice(store.db, w.masterKey, {
        accountId: account.id,
        kind: 'domain_unverified',
        recipient: account.notification_email,
        subject: `${SENDER_DOMAIN} is no longer verified`,
        body: 'The DKIM record disappeared.',
        at: w.clock.now,
      });
      assert.deepEqual(await clearCopies(store, 'DKIM record disappeared'), [], 'sealed at rest');
      const deps = {
        store,
        masterKey: w.masterKey,
        hostname: 'platform.test',
        now: () => w.clock.now,
      };
      assert.equal(await queueAccountNotices(deps), 1);
      assert.equal(await queueAccountNotices(deps), 0, 'marked as sent');
      await w.drain();
      const notify = w.servers.find((s) => s.host === '127.0.0.3')!;
      const mail = notify.messages.at(-1)!;
      assert.deepEqual(mail.to, ['ops@notify.test']);
      assert.match(mail.data.toString(), /is no longer verified/);
      assert.match(mail.data.toString(), /The DKIM record disappeared\./);
    });

    test('bodies go after the body retention, whole messages after the evidence retention', async () => {
      const accepted = await w.submit({
        sender: `news@${SENDER_DOMAIN}`,
        recipients: ['r@good.test'],
        message: mime({}),
      });
      const id = accepted.json().id;
      await w.drain();
      const row = () =>
        store.db.selectFrom('messages').selectAll().where('id', '=', id).executeTakeFirst();
      assert.ok((await row())?.body_sealed);
      const settings = {
        bodyRetentionMs: 7 * DAY,
        subjectRetentionMs: 30 * DAY,
        evidenceRetentionMs: 365 * DAY,
      };

      await applyRetention(store.db, settings, w.clock.now + 6 * DAY);
      assert.ok((await row())?.body_sealed, 'kept within 7 days');
      await applyRetention(store.db, settings, w.clock.now + 8 * DAY);
      assert.equal((await row())?.body_sealed, null, 'body deleted');
      assert.ok((await row())?.subject_sealed, 'the subject is kept longer');
      await applyRetention(store.db, settings, w.clock.now + 31 * DAY);
      assert.equal((await row())?.subject_sealed, null, 'subject deleted');
      assert.ok(await row(), 'the message and its evidence stay');

      const attempts = () =>
        store.db
          .selectFrom('attempts')
          .innerJoin('recipients', 'recipients.id', 'attempts.recipient_id')
          .select('attempts.id')
          .where('recipients.message_id', '=', id)
          .execute();
      assert.equal((await attempts()).length, 1);
      const shared = () => store.db.selectFrom('session_evidence').select('id').execute();
      assert.ok((await shared()).length >= 1, 'the session evidence is stored once, shared');
      await applyRetention(store.db, settings, w.clock.now + 366 * DAY);
      assert.equal(await row(), undefined);
      assert.equal((await attempts()).length, 0);
      assert.equal((await shared()).length, 0, 'shared evidence goes with its last attempt');
    });
  });
}
