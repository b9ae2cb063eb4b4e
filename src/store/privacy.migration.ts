// Migration 0008 (issue 16, data subjects' rights and retention): the erasure record, and the
// indexes that let retention find what is due without reading every message.
//
// - `erasures`: one row per erasure (privacy.table.ts); deleted with its account.
// - `messages_body_due` / `messages_subject_due`: completed messages that still hold a body or
//   a subject, by completion time. Bodies are now deleted at completion by default (retention
//   sweeps every minute), subjects after SECUREMAIL_SUBJECT_RETENTION_DAYS. Partial, so the
//   indexes hold only what retention still has to clear, and a message enters them only when
//   it completes (an insert at submission has completed_at null and is not indexed).
// - `webhook_events_finished`: delivered, failed and dropped events by when they finished,
//   for their retention (they were never deleted before).
// Registered in migrations.ts as `0009_privacy`.

import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';

export const privacyMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('erasures')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('account_id', 'text', (c) =>
        c.notNull().references('accounts.id').onDelete('cascade'),
      )
      .addColumn('client_id', 'text', (c) => c.notNull())
      .addColumn('requested_via', 'text', (c) => c.notNull())
      .addColumn('erased_at', 'bigint', (c) => c.notNull())
      .addColumn('counts_json', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('erasures_account')
      .on('erasures')
      .columns(['account_id', 'erased_at'])
      .execute();

    await db.schema
      .createIndex('messages_body_due')
      .on('messages')
      .column('completed_at')
      .where(sql.ref('completed_at'), 'is not', null)
      .where(sql.ref('body_sealed'), 'is not', null)
      .execute();
    await db.schema
      .createIndex('messages_subject_due')
      .on('messages')
      .column('completed_at')
      .where(sql.ref('completed_at'), 'is not', null)
      .where(sql.ref('subject_sealed'), 'is not', null)
      .execute();
    await db.schema
      .createIndex('webhook_events_finished')
      .on('webhook_events')
      .column('finished_at')
      .where(sql.ref('finished_at'), 'is not', null)
      .execute();
  },
};
