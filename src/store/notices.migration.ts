// The notice digest: a recipient that ends undelivered is appended to `pending_notices` in the
// transaction that ends it, and the worker mails one notice per message per digest window
// (src/notify/notifications.ts), claiming it in `message_notices`. Registered in
// migrations.ts as `0008_notice_digest`.
//
// Before this migration a message's notice went out when its last recipient became final.
// Recipients of messages complete by then were told about (or, for a message completed while
// nobody was told, never will be under the old rule either), so only the undelivered
// recipients of messages still open are carried over: they are reported by the new rule.

import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';

export const noticeDigestMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('pending_notices')
      // No foreign key to recipients: retention deletes whole messages, and the message's
      // cascade removes these rows; a key per recipient would cost every recipient delete.
      .addColumn('recipient_id', 'text', (c) => c.primaryKey())
      .addColumn('message_id', 'text', (c) =>
        c.notNull().references('messages.id').onDelete('cascade'),
      )
      .addColumn('ended_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('pending_notices_message')
      .on('pending_notices')
      .columns(['message_id', 'ended_at'])
      .execute();

    await db.schema
      .createTable('message_notices')
      .addColumn('message_id', 'text', (c) =>
        c.primaryKey().references('messages.id').onDelete('cascade'),
      )
      .addColumn('notice_count', 'integer', (c) => c.notNull())
      .addColumn('last_notice_at', 'bigint', (c) => c.notNull())
      .execute();

    await sql`insert into pending_notices (recipient_id, message_id, ended_at)
      select r.id, r.message_id, coalesce(r.final_at, r.updated_at)
      from recipients r join messages m on m.id = r.message_id
      where m.kind = 'message' and m.completed_at is null
        and r.status in ('refused_insecure', 'bounced', 'failed', 'expired')`.execute(db);
  },
};
