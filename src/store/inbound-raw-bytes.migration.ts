// How many bytes of each received message are kept (`raw_bytes`), so that the bounce MX can
// hold the total to SECUREMAIL_MX_STORE_BYTES across every MX process on the database. The
// index lets the total be summed without reading the stored messages themselves.
// Registered in migrations.ts as `0006_inbound_raw_bytes`.

import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';

export const inboundRawBytesMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .alterTable('inbound_messages')
      .addColumn('raw_bytes', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    // Rows from before: the decoded size of their base64 text (unpadded length * 3 / 4,
    // within two bytes of the truth, which is all a budget needs).
    await sql`update inbound_messages set raw_bytes = (length(raw) / 4) * 3 where raw is not null`.execute(
      db,
    );
    await db.schema
      .createIndex('inbound_messages_raw_bytes')
      .on('inbound_messages')
      .column('raw_bytes')
      .execute();
  },
};
