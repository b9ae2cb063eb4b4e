// The databases every store test runs against: SQLite always, PostgreSQL when
// TEST_DATABASE_URL (or DATABASE_URL) is set. Each PostgreSQL store gets a schema of its own,
// dropped on close, so test files never see each other's rows.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { openStore, type Store } from '../../src/store/database.ts';
import { migrateToLatest } from '../../src/store/migrations.ts';

export const postgresUrl: string | undefined =
  process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;

export interface DialectCase {
  name: 'sqlite' | 'postgres';
  /**
   * A fresh, migrated, empty store; with `upTo`, migrated only up to that migration (tests
   * of a later migration's data step).
   */
  open(upTo?: string): Promise<TestStore>;
}

export interface TestStore extends Store {
  /** Another connection pool on the same data, as a second process would have. */
  openSibling(): Promise<Store>;
}

export function dialects(): DialectCase[] {
  const cases: DialectCase[] = [{ name: 'sqlite', open: openSqliteStore }];
  if (postgresUrl !== undefined) cases.push({ name: 'postgres', open: openPostgresStore });
  return cases;
}

async function openSqliteStore(upTo?: string): Promise<TestStore> {
  // A real file (WAL needs one), in a directory removed on close.
  const dir = mkdtempSync(path.join(tmpdir(), 'securemail-test-'));
  const sqlitePath = path.join(dir, 'test.db');
  const store = openStore({ sqlitePath });
  await migrateToLatest(store.db, undefined, upTo === undefined ? {} : { upTo });
  const siblings: Store[] = [];
  return {
    ...store,
    async openSibling() {
      const sibling = openStore({ sqlitePath });
      siblings.push(sibling);
      return sibling;
    },
    async close() {
      for (const s of siblings) await s.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function openPostgresStore(upTo?: string): Promise<TestStore> {
  const url = postgresUrl!;
  const schema = `test_${randomBytes(6).toString('hex')}`;
  const store = openStore({ databaseUrl: url, pgSchema: schema, poolSize: 4 });
  await migrateToLatest(store.db, store.schema, upTo === undefined ? {} : { upTo });
  const siblings: Store[] = [];
  return {
    ...store,
    async openSibling() {
      const sibling = openStore({ databaseUrl: url, pgSchema: schema, poolSize: 4 });
      siblings.push(sibling);
      return sibling;
    },
    async close() {
      for (const s of siblings) await s.close();
      await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(store.db);
      await store.close();
    },
  };
}

/** True when PostgreSQL answers; lets a PostgreSQL-only test say why it was skipped. */
export async function postgresReachable(): Promise<boolean> {
  if (postgresUrl === undefined) return false;
  const client = new pg.Client({ connectionString: postgresUrl });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch {
    return false;
  }
}
