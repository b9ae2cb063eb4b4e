// Migration 0007: what earlier versions kept in clear (message subjects, account notices,
// the bounce MX's kept messages) is sealed with the master key in place. A database made
// by 0006 gets rows as that version wrote them; the migration must refuse without the key
// or with another key, change nothing then, and afterwards leave no clear copy while every
// value still reads back the same.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { sql } from 'kysely';
import { createClient } from '../../src/clients/clients-service.ts';
import { assertMasterKeyMatches } from '../../src/secrets/master-key.ts';
import {
  clearContentSealer,
  openKeptMessage,
  openNotice,
  openSubject,
} from '../../src/secrets/sealed-content.ts';
import { listNotifications } from '../../src/store/account-notifications.repository.ts';
import { listInboundMessages, sumKeptBytes } from '../../src/store/inbound.repository.ts';
import { findMessage } from '../../src/store/messages.repository.ts';
import { migrateToLatest } from '../../src/store/migrations.ts';
import { clearCopies } from '../support/at-rest.ts';
import { dialects, type TestStore } from '../support/db.ts';

const SUBJECT = 'Uitslag van J. Jansen — “bloed” 🩸';
const NOTICE = { subject: 'Notice for Jansen', body: 'Jansen: the DKIM record is gone.' };
const MANY = 1001;
const KEPT = 'From: <a@remote.example>\r\nSubject: Re\r\n\r\nThanks, Jansen paid already.\r\n';

/** Rows as versions up to migration 0006 wrote them, with the clear columns. */
async function rowsOf0006(store: TestStore): Promise<{ clientId: string; accountId: string }> {
  const { clientId } = await createClient(store, { name: 'old' }, 1);
  const accountId = 'account-1';
  await sql`insert into accounts (id, client_id, domain, notification_email, state,
      bounce_subdomain, policy_level, ownership_token, created_at, updated_at)
    values (${accountId}, ${clientId}, 'shop.nl', 'ops@shop.nl', 'valid', 'bounce',
      'authenticated', 'token', 1, 1)`.execute(store.db);
  for (const [id, subject] of [
    ['message-1', SUBJECT],
    ['message-2', null],
  ] as const) {
    await sql`insert into messages (id, client_id, account_id, kind, sender, message_id_header,
        subject, content_hash, size, body_sealed, require_tls, recipient_count, response_json,
        created_at, completed_at)
      values (${id}, ${clientId}, ${accountId}, 'message', 'news@shop.nl', ${`${id}@shop.nl`},
        ${subject}, 'hash', 10, null, 0, 1, '{}', 1, null)`.execute(store.db);
  }
  // More than two of the migration's batches (500 rows each).
  const many = Array.from(
    { length: MANY },
    (_, i) =>
      sql`(${`bulk-${String(i).padStart(4, '0')}`}, ${clientId}, ${accountId}, 'message',
        'news@shop.nl', ${`bulk-${i}@shop.nl`}, ${`Order ${i} for Jansen`}, 'hash', 10, null, 0,
        1, '{}', 1, null)`,
  );
  await sql`insert into messages (id, client_id, account_id, kind, sender, message_id_header,
      subject, content_hash, size, body_sealed, require_tls, recipient_count, response_json,
      created_at, completed_at)
    values ${sql.join(many)}`.execute(store.db);
  await sql`insert into account_notifications (id, account_id, kind, recipient, subject, body,
      created_at, sent_at)
    values ('notice-1', ${accountId}, 'domain_unverified', 'ops@shop.nl', ${NOTICE.subject},
      ${NOTICE.body}, 1, null)`.execute(store.db);
  await sql`insert into inbound_messages (id, received_at, mail_from, rcpt_to, remote_address,
      helo, size, kind, account_id, recipient_id, report_json, outcome, raw, raw_truncated,
      raw_bytes)
    values ('inbound-1', 1, 'a@remote.example', 'bounce+x@bounce.shop.nl', '192.0.2.1',
      'mx.remote.example', ${KEPT.length}, 'unparseable', ${accountId}, null, null,
      'not a delivery report', ${Buffer.from(KEPT).toString('base64')}, 0, ${KEPT.length})`.execute(
    store.db,
  );
  return { clientId, accountId };
}

for (const dialect of dialects()) {
  describe(`migration 0007 seals content kept in clear (${dialect.name})`, () => {
    test('subjects, account notices and kept bounces are sealed; a missing or wrong key changes nothing', async () => {
      const store = await dialect.open('0006_inbound_raw_bytes');
      try {
        const { clientId, accountId } = await rowsOf0006(store);
        const key = randomBytes(32);
        const before = await clearCopies(store, 'Jansen');
        assert.deepEqual(before, [
          'account_notifications.body',
          'account_notifications.subject',
          'inbound_messages.raw',
          'messages.subject',
        ]);

        await assert.rejects(migrateToLatest(store.db, store.schema), /master key/);
        assert.deepEqual(await clearCopies(store, 'Jansen'), before, 'nothing changed');

        // The database belongs to `key`; another key must not seal anything with itself.
        await assertMasterKeyMatches(store, key);
        await assert.rejects(
          migrateToLatest(store.db, store.schema, { sealer: clearContentSealer(randomBytes(32)) }),
          /does not match/,
        );
        assert.deepEqual(await clearCopies(store, 'Jansen'), before, 'nothing changed');

        const { applied } = await migrateToLatest(store.db, store.schema, {
          sealer: clearContentSealer(key),
        });
        assert.deepEqual(applied, ['0007_sealed_content', '0008_privacy']);
        assert.deepEqual(await clearCopies(store, 'Jansen'), [], 'no clear copy left');

        const message = await findMessage(store.db, clientId, 'message-1');
        assert.equal(openSubject(key, 'message-1', message!.subject_sealed), SUBJECT);
        for (const i of [0, 499, 500, 1000]) {
          const id = `bulk-${String(i).padStart(4, '0')}`;
          const bulk = await findMessage(store.db, clientId, id);
          assert.equal(openSubject(key, id, bulk!.subject_sealed), `Order ${i} for Jansen`);
        }
        const untitled = await findMessage(store.db, clientId, 'message-2');
        assert.equal(untitled!.subject_sealed, null);
        assert.equal(openSubject(key, 'message-2', untitled!.subject_sealed), null);

        const [notice] = await listNotifications(store.db, accountId);
        assert.deepEqual(openNotice(key, notice!), NOTICE);

        const [kept] = await listInboundMessages(store.db, { accountId });
        assert.equal(openKeptMessage(key, kept!)?.toString('utf8'), KEPT);
        assert.equal(kept!.raw_bytes, KEPT.length, 'the store budget counts the same bytes');
        assert.equal(await sumKeptBytes(store.db), KEPT.length);

        // A sealed value opens only in its own row.
        assert.throws(() => openSubject(key, 'message-2', message!.subject_sealed));
      } finally {
        await store.close();
      }
    });

    test('a database without clear content migrates without the key', async () => {
      const store = await dialect.open('0006_inbound_raw_bytes');
      try {
        assert.deepEqual((await migrateToLatest(store.db, store.schema)).applied, [
          '0007_sealed_content',
          '0008_privacy',
        ]);
      } finally {
        await store.close();
      }
    });
  });
}
