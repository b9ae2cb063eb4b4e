// What an auditor (or a thief with a copy of the database) would find: every text column of
// every table, read as it is and decoded from base64, searched for a piece of clear text.
// A sealed value decodes to ciphertext; a clear one, even stored as base64, does not hide.

import { sql } from 'kysely';
import type { Store } from '../../src/store/database.ts';

async function tableNames(store: Store): Promise<string[]> {
  const query =
    store.dialect === 'postgres'
      ? sql<{ name: string }>`select table_name as name from information_schema.tables
          where table_schema = current_schema() and table_type = 'BASE TABLE'`
      : sql<{ name: string }>`select name from sqlite_master where type = 'table'`;
  const { rows } = await query.execute(store.db);
  return rows.map((r) => r.name).filter((name) => !name.startsWith('kysely_'));
}

/** `table.column` of every value in the database that holds `clear`, as text or as base64. */
export async function clearCopies(store: Store, clear: string): Promise<string[]> {
  const found: string[] = [];
  for (const table of await tableNames(store)) {
    const { rows } = await sql<Record<string, unknown>>`select * from ${sql.table(table)}`.execute(
      store.db,
    );
    for (const row of rows) {
      for (const [column, value] of Object.entries(row)) {
        if (typeof value !== 'string') continue;
        const decoded = Buffer.from(value, 'base64').toString('utf8');
        if (value.includes(clear) || decoded.includes(clear)) found.push(`${table}.${column}`);
      }
    }
  }
  return [...new Set(found)].sort();
}
