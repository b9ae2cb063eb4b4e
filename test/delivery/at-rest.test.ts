// Message subjects at rest: a subject is personal data as much as the body ("Your test
// results, J. Jansen"), so it is sealed with the master key like the body. The sender
// still sees it in GET /message/{id} and GET /messages, and in the notification about
// undelivered recipients, whose own subject is sealed as well.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openSubject } from '../../src/secrets/sealed-content.ts';
import { clearCopies } from '../support/at-rest.ts';
import { dialects, type TestStore } from '../support/db.ts';
import { mime, SENDER_DOMAIN, startWorld, type World } from './support.ts';

const SUBJECT = 'Uitslag bloedonderzoek J. Jansen';

for (const dialect of dialects()) {
  describe(`subjects at rest (${dialect.name})`, () => {
    let store: TestStore;
    let w: World;

    before(async () => {
      store = await dialect.open();
      w = await startWorld(store);
      await w.addMx('good.test', '127.0.0.1');
      await w.addMx('bad.test', '127.0.0.2', { insecure: true });
      await w.addMx('notify.test', '127.0.0.3');
    });
    after(async () => {
      await w.close();
      await store.close();
    });

    test('no clear subject in the database; the API and the notification show it', async () => {
      const accepted = await w.submit({
        sender: `news@${SENDER_DOMAIN}`,
        recipients: ['a@good.test', 'b@bad.test'],
        message: mime({ Subject: SUBJECT }),
      });
      assert.equal(accepted.statusCode, 202, accepted.body);
      const id = accepted.json().id as string;
      await w.drain();

      assert.deepEqual(
        await clearCopies(store, 'Jansen'),
        [],
        'nothing holds the subject in clear',
      );

      const status = await w.app.inject({
        method: 'GET',
        url: `/message/${id}`,
        headers: w.tenant.auth,
      });
      assert.equal(status.statusCode, 200, status.body);
      assert.equal(status.json().subject, SUBJECT);

      const list = await w.app.inject({ method: 'GET', url: '/messages', headers: w.tenant.auth });
      assert.equal(list.statusCode, 200, list.body);
      const listed = list.json().messages.find((m: { id: string }) => m.id === id);
      assert.equal(listed?.subject, SUBJECT);

      // The sender's notification about b@bad.test: delivered with the subject, stored sealed.
      const notify = w.servers.find((s) => s.host === '127.0.0.3')!;
      const mail = notify.messages.at(-1)?.data.toString() ?? '';
      const unfolded = mail.replace(/\r\n[ \t]+/g, ' ');
      assert.match(
        unfolded,
        new RegExp(`^Subject: Not delivered to 1 of 2 recipients: ${SUBJECT}`, 'm'),
      );
      const notification = await store.db
        .selectFrom('messages')
        .selectAll()
        .where('kind', '=', 'notification')
        .executeTakeFirstOrThrow();
      assert.equal(
        openSubject(w.masterKey, notification.id, notification.subject_sealed),
        `Not delivered to 1 of 2 recipients: ${SUBJECT}`,
      );
    });

    test('a message without a subject lists null', async () => {
      const accepted = await w.submit({
        sender: `news@${SENDER_DOMAIN}`,
        recipients: ['c@good.test'],
        message: mime({ Subject: '' }),
      });
      assert.equal(accepted.statusCode, 202, accepted.body);
      const status = await w.app.inject({
        method: 'GET',
        url: `/message/${accepted.json().id}`,
        headers: w.tenant.auth,
      });
      assert.equal(status.json().subject, null);
    });
  });
}
