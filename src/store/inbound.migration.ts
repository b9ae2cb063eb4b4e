// The feedback tables: inbound (bounce) messages, suppressions, webhooks and their outbox.
// Registered in migrations.ts as `0004_inbound`.

import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';

export const inboundMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('inbound_messages')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('received_at', 'bigint', (c) => c.notNull())
      .addColumn('mail_from', 'text', (c) => c.notNull())
      .addColumn('rcpt_to', 'text', (c) => c.notNull())
      .addColumn('remote_address', 'text', (c) => c.notNull())
      .addColumn('helo', 'text', (c) => c.notNull())
      .addColumn('size', 'integer', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      // No foreign keys: a bounce is kept for inspection even after its account is gone.
      .addColumn('account_id', 'text')
      .addColumn('recipient_id', 'text')
      .addColumn('report_json', 'text')
      .addColumn('outcome', 'text', (c) => c.notNull())
      .addColumn('raw', 'text')
      .addColumn('raw_truncated', 'integer', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('inbound_messages_received')
      .on('inbound_messages')
      .column('received_at')
      .execute();
    await db.schema
      .createIndex('inbound_messages_recipient')
      .on('inbound_messages')
      .column('recipient_id')
      .execute();

    await db.schema
      .createTable('suppressions')
      .addColumn('account_id', 'text', (c) =>
        c.notNull().references('accounts.id').onDelete('cascade'),
      )
      .addColumn('address', 'text', (c) => c.notNull())
      .addColumn('reason', 'text', (c) => c.notNull())
      .addColumn('detail', 'text')
      .addColumn('recipient_id', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('suppressions_pk', ['account_id', 'address'])
      .execute();

    await db.schema
      .createTable('webhooks')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('account_id', 'text', (c) =>
        c.notNull().unique().references('accounts.id').onDelete('cascade'),
      )
      .addColumn('url', 'text', (c) => c.notNull())
      .addColumn('events', 'text', (c) => c.notNull())
      .addColumn('secret_sealed', 'text', (c) => c.notNull())
      .addColumn('previous_secret_sealed', 'text')
      .addColumn('previous_secret_until', 'bigint')
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('failing_since', 'bigint')
      .addColumn('last_error', 'text')
      .addColumn('last_success_at', 'bigint')
      .addColumn('disabled_at', 'bigint')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('webhook_events')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('account_id', 'text', (c) =>
        c.notNull().references('accounts.id').onDelete('cascade'),
      )
      .addColumn('ordering_key', 'text', (c) => c.notNull())
      .addColumn('seq', 'integer', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('payload', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull())
      .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
      .addColumn('lease_owner', 'text')
      .addColumn('lease_until', 'bigint')
      .addColumn('last_error', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('finished_at', 'bigint')
      .execute();
    await db.schema
      .createIndex('webhook_events_line')
      .on('webhook_events')
      .columns(['ordering_key', 'seq'])
      .execute();
    // The dispatcher's query: pending events by due time. Partial, so delivered history does
    // not slow it down.
    await db.schema
      .createIndex('webhook_events_due')
      .on('webhook_events')
      .column('next_attempt_at')
      .where(sql.ref('state'), '=', sql.lit('pending'))
      .execute();
  },
};
