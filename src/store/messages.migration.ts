// Messages, their recipients and every delivery attempt. Kept in its own file and added to
// the list in migrations.ts.

import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';

export const messagesMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('messages')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('client_id', 'text', (c) => c.notNull())
      .addColumn('account_id', 'text', (c) =>
        c.notNull().references('accounts.id').onDelete('cascade'),
      )
      /** 'message' (submitted through the API) or 'notification' (ours, to the account). */
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('sender', 'text', (c) => c.notNull())
      .addColumn('message_id_header', 'text', (c) => c.notNull())
      .addColumn('subject', 'text')
      /** SHA-256 over sender, recipients and the message: tells a safe retry from a clash. */
      .addColumn('content_hash', 'text', (c) => c.notNull())
      .addColumn('size', 'integer', (c) => c.notNull())
      /** The message, sealed with the master key (base64); null once deleted by retention. */
      .addColumn('body_sealed', 'text')
      .addColumn('require_tls', 'integer', (c) => c.notNull())
      .addColumn('recipient_count', 'integer', (c) => c.notNull())
      /** The 202 answer, returned again on a safe retry. */
      .addColumn('response_json', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('completed_at', 'bigint')
      .addUniqueConstraint('messages_account_message_id', ['account_id', 'message_id_header'])
      .execute();
    await db.schema
      .createIndex('messages_client_created')
      .on('messages')
      .columns(['client_id', 'created_at'])
      .execute();

    await db.schema
      .createTable('recipients')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('message_id', 'text', (c) =>
        c.notNull().references('messages.id').onDelete('cascade'),
      )
      .addColumn('address', 'text', (c) => c.notNull())
      .addColumn('domain', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull())
      .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
      .addColumn('lease_owner', 'text')
      .addColumn('lease_until', 'bigint')
      .addColumn('reason', 'text')
      .addColumn('detail', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addColumn('final_at', 'bigint')
      .execute();
    await db.schema
      .createIndex('recipients_message')
      .on('recipients')
      .column('message_id')
      .execute();
    // The worker's claim query: waiting recipients in order of their due time. Partial, so
    // that millions of finished recipients do not make claiming slower.
    await db.schema
      .createIndex('recipients_due')
      .on('recipients')
      .column('next_attempt_at')
      .where(sql.ref('status'), 'in', [sql.lit('queued'), sql.lit('deferred')])
      .execute();

    await db.schema
      .createTable('account_usage')
      .addColumn('account_id', 'text', (c) =>
        c.notNull().references('accounts.id').onDelete('cascade'),
      )
      .addColumn('day', 'bigint', (c) => c.notNull())
      .addColumn('messages', 'integer', (c) => c.notNull())
      .addPrimaryKeyConstraint('account_usage_pk', ['account_id', 'day'])
      .execute();

    await db.schema
      .createTable('attempts')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('recipient_id', 'text', (c) =>
        c.notNull().references('recipients.id').onDelete('cascade'),
      )
      .addColumn('started_at', 'bigint', (c) => c.notNull())
      .addColumn('ended_at', 'bigint', (c) => c.notNull())
      .addColumn('verdict', 'text', (c) => c.notNull())
      .addColumn('reason', 'text')
      .addColumn('mx_host', 'text')
      /** The remote server's reply to the message (code, enhanced code, text, queue id). */
      .addColumn('reply', 'text')
      /** SECURITY_POLICY.md evidence for every host tried, as JSON. */
      .addColumn('evidence_json', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('attempts_recipient')
      .on('attempts')
      .column('recipient_id')
      .execute();
  },
};
