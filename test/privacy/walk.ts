// Walks every table and column of the schema for an address: in clear (any case) in every
// text column, and in every sealed column by opening it with the master key. The list of
// tables comes from the database's own catalogue, so a table added later is walked too; a
// sealed column this file does not know how to open fails the walk, so it is never skipped.

import { sql } from 'kysely';
import { open, type SealPurpose } from '../../src/secrets/sealed-box.ts';
import type { Store } from '../../src/store/database.ts';

/** Sealed columns with their purpose; context is the row's `id`. */
const SEALED: Record<string, SealPurpose> = {
  'messages.subject_sealed': 'message-subject',
  'messages.body_sealed': 'message-body',
  'account_notifications.subject_sealed': 'notice-subject',
  'account_notifications.body_sealed': 'notice-body',
  'inbound_messages.raw_sealed': 'inbound-message',
};
/** Sealed secrets (keys), not content: they cannot hold an address, and are not opened. */
const SEALED_SECRETS = new Set([
  'dkim_keys.private_key_sealed',
  'webhooks.secret_sealed',
  'webhooks.previous_secret_sealed',
]);

export interface Occurrence {
  table: string;
  column: string;
  /** The whole row, as JSON: the same row found twice is the same string. */
  row: string;
}

export async function tableNames(store: Store): Promise<string[]> {
  if (store.dialect === 'sqlite') {
    const { rows } = await sql<{ name: string }>`
      select name from sqlite_master where type = 'table' and name not like 'sqlite_%'`.execute(
      store.db,
    );
    return rows.map((r) => r.name).sort();
  }
  const { rows } = await sql<{ table_name: string }>`
    select table_name from information_schema.tables
    where table_schema = current_schema() and table_type = 'BASE TABLE'`.execute(store.db);
  return rows.map((r) => r.table_name).sort();
}

export async function walkForAddress(
  store: Store,
  masterKey: Buffer,
  address: string,
): Promise<Occurrence[]> {
  const needle = address.toLowerCase();
  const found: Occurrence[] = [];
  for (const table of await tableNames(store)) {
    const { rows } = await sql<Record<string, unknown>>`select * from ${sql.table(table)}`.execute(
      store.db,
    );
    for (const row of rows) {
      for (const [column, value] of Object.entries(row)) {
        if (typeof value !== 'string') continue;
        const name = `${table}.${column}`;
        let text = value;
        if (column.endsWith('_sealed')) {
          if (SEALED_SECRETS.has(name)) continue;
          const purpose = SEALED[name];
          if (purpose === undefined) throw new Error(`the walk cannot open ${name}: add it`);
          text = open(masterKey, purpose, String(row.id), Buffer.from(value, 'base64')).toString(
            'utf8',
          );
          // A quoted-printable line break may fall inside the address.
          text = `${text}\n${text.replace(/=\r?\n/g, '')}`;
        }
        if (text.toLowerCase().includes(needle)) {
          found.push({ table, column, row: JSON.stringify(row) });
        }
      }
    }
  }
  return found;
}
