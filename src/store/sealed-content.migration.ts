// Migration 0007: message subjects, account notices and what the bounce MX keeps of received
// messages were stored in clear; from here they are sealed with the master key
// (src/secrets/sealed-content.ts). Each clear column is replaced by a `*_sealed` one, the
// values existing rows hold are sealed in place, and the clear columns are dropped, so the
// schema itself shows an auditor that no clear copy is left.
//
// Why a migration that seals, rather than readers that accept clear and sealed rows alike:
// with such readers the clear values of existing rows would stay on disk until retention
// removed them (a year for evidence), and a clear value could not be told from a sealed one
// by its shape. Sealing once, at the upgrade, leaves one kind of row and nothing in clear.
// The price: this migration needs the master key, so it runs where `serve` and `migrate`
// run (service.ts hands it a sealer); without one it fails on a database that holds clear
// content, and changes nothing. The key is checked against the database's check value
// before anything is sealed: content sealed with a wrong key could never be read again.
// All of it is one transaction on both dialects, so a failure leaves the 0006 schema as it
// was. Old processes still running during an upgrade would fail on the dropped columns
// instead of writing clear values next to sealed ones: stop them first.
// Registered in migrations.ts as `0007_sealed_content`.

import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { Database } from './schema.ts';

/** Seals the values of earlier versions; implemented with the master key by the service layer. */
export interface ClearContentSealer {
  /** Throws unless the key is this database's (records it when the database has none yet). */
  checkKey(db: Kysely<Database>): Promise<void>;
  subject(messageId: string, subject: string): string;
  notice(
    noticeId: string,
    notice: { subject: string; body: string },
  ): { subject_sealed: string; body_sealed: string };
  keptMessage(inboundId: string, raw: Buffer): string;
}

/** The tables as this migration sees them: the clear columns and their sealed successors. */
interface During {
  messages: { id: string; subject: string | null; subject_sealed: string | null };
  account_notifications: {
    id: string;
    subject: string;
    body: string;
    subject_sealed: string | null;
    body_sealed: string | null;
  };
  inbound_messages: { id: string; raw: string | null; raw_sealed: string | null };
}

// Rows are read and written in keyset batches. Kept messages are up to
// SECUREMAIL_MX_KEEP_BYTES (256 KiB by default) each, hence their smaller batch.
const BATCH = 500;
const KEPT_BATCH = 50;

export function sealedContentMigration(sealer: ClearContentSealer | undefined): Migration {
  return {
    async up(db: Kysely<unknown>) {
      // PostgreSQL: Kysely runs migrations in a transaction already. SQLite: it does not
      // (its adapter claims no transactional DDL), but SQLite's DDL is transactional.
      if (db.isTransaction) await sealAll(db as unknown as Kysely<During>, sealer);
      else
        await db.transaction().execute((trx) => sealAll(trx as unknown as Kysely<During>, sealer));
    },
  };
}

async function sealAll(db: Kysely<During>, sealer: ClearContentSealer | undefined): Promise<void> {
  // Nullable: SQLite adds no NOT NULL column without a default. Every writer sets them.
  await db.schema.alterTable('messages').addColumn('subject_sealed', 'text').execute();
  await db.schema.alterTable('account_notifications').addColumn('subject_sealed', 'text').execute();
  await db.schema.alterTable('account_notifications').addColumn('body_sealed', 'text').execute();
  await db.schema.alterTable('inbound_messages').addColumn('raw_sealed', 'text').execute();

  if (await holdsClearContent(db)) {
    if (sealer === undefined) {
      throw new Error(
        'migration 0007 seals message subjects, account notices and kept bounces that are ' +
          'stored in clear, and needs the master key for it: run `securemail migrate` (or ' +
          'serve) with the SECUREMAIL_MASTER_KEY or data directory of this database',
      );
    }
    await sealer.checkKey(db as unknown as Kysely<Database>);
    await sealSubjects(db, sealer);
    await sealNotices(db, sealer);
    await sealKeptMessages(db, sealer);
  }

  await db.schema.alterTable('messages').dropColumn('subject').execute();
  await db.schema.alterTable('account_notifications').dropColumn('subject').execute();
  await db.schema.alterTable('account_notifications').dropColumn('body').execute();
  await db.schema.alterTable('inbound_messages').dropColumn('raw').execute();
}

async function holdsClearContent(db: Kysely<During>): Promise<boolean> {
  const subject = await db
    .selectFrom('messages')
    .select('id')
    .where('subject', 'is not', null)
    .limit(1)
    .executeTakeFirst();
  const notice = await db
    .selectFrom('account_notifications')
    .select('id')
    .limit(1)
    .executeTakeFirst();
  const kept = await db
    .selectFrom('inbound_messages')
    .select('id')
    .where('raw', 'is not', null)
    .limit(1)
    .executeTakeFirst();
  return subject !== undefined || notice !== undefined || kept !== undefined;
}

async function sealSubjects(db: Kysely<During>, sealer: ClearContentSealer): Promise<void> {
  for (let after = ''; ; ) {
    const rows = await db
      .selectFrom('messages')
      .select(['id', 'subject'])
      .where('id', '>', after)
      .where('subject', 'is not', null)
      .orderBy('id')
      .limit(BATCH)
      .execute();
    await writeSealed(
      db,
      'messages',
      rows.map((r) => ({ id: r.id, subject_sealed: sealer.subject(r.id, r.subject!) })),
    );
    if (rows.length < BATCH) return;
    after = rows.at(-1)!.id;
  }
}

async function sealNotices(db: Kysely<During>, sealer: ClearContentSealer): Promise<void> {
  for (let after = ''; ; ) {
    const rows = await db
      .selectFrom('account_notifications')
      .select(['id', 'subject', 'body'])
      .where('id', '>', after)
      .orderBy('id')
      .limit(BATCH)
      .execute();
    await writeSealed(
      db,
      'account_notifications',
      rows.map((r) => ({ id: r.id, ...sealer.notice(r.id, { subject: r.subject, body: r.body }) })),
    );
    if (rows.length < BATCH) return;
    after = rows.at(-1)!.id;
  }
}

async function sealKeptMessages(db: Kysely<During>, sealer: ClearContentSealer): Promise<void> {
  for (let after = ''; ; ) {
    const rows = await db
      .selectFrom('inbound_messages')
      .select(['id', 'raw'])
      .where('id', '>', after)
      .where('raw', 'is not', null)
      .orderBy('id')
      .limit(KEPT_BATCH)
      .execute();
    // raw_bytes stays: it counted the decoded bytes, which are what is sealed.
    await writeSealed(
      db,
      'inbound_messages',
      rows.map((r) => ({
        id: r.id,
        raw_sealed: sealer.keptMessage(r.id, Buffer.from(r.raw!, 'base64')),
      })),
    );
    if (rows.length < KEPT_BATCH) return;
    after = rows.at(-1)!.id;
  }
}

/**
 * Sets the sealed columns of a batch of rows in one statement (a VALUES list joined by id;
 * the same SQL on both dialects). Measured on the 2-core dev machine, 100,000 subjects:
 * one UPDATE per row took 30.3 s on PostgreSQL (a round trip each) and 5.0 s on SQLite;
 * in batches of 500, 4.3 s and 3.8 s (about a third of it making the random IVs).
 */
async function writeSealed(
  db: Kysely<During>,
  table: keyof During,
  rows: Array<{ id: string } & Record<string, string>>,
): Promise<void> {
  const first = rows[0];
  if (first === undefined) return;
  const columns = Object.keys(first).filter((c) => c !== 'id');
  const tuples = rows.map((r) => sql`(${sql.join([r.id, ...columns.map((c) => r[c])])})`);
  const sets = columns.map((c) => sql`${sql.ref(c)} = ${sql.ref(`v.${c}`)}`);
  // UPDATE ... FROM: PostgreSQL, and SQLite since 3.33 (node:sqlite ships 3.5x).
  await sql`with v (${sql.join(['id', ...columns].map((c) => sql.ref(c)))}) as (values ${sql.join(tuples)})
    update ${sql.table(table)} set ${sql.join(sets)}
    from v where ${sql.ref(`${table}.id`)} = ${sql.ref('v.id')}`.execute(db);
}
