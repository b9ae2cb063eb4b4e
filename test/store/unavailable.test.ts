// isStorageUnavailable on real failures, not made-up error objects: PostgreSQL on a closed
// port, a backend terminated (pg_terminate_backend) in the middle of a transaction, and an
// SQLite database that is full (PRAGMA max_page_count). Ordinary errors (a constraint, bad
// SQL) are not an outage. The terminated backend must not end the process either (pg's
// 'error' event on a client a transaction holds).

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import pino from 'pino';
import { openStore } from '../../src/store/database.ts';
import { migrateToLatest } from '../../src/store/migrations.ts';
import { isStorageUnavailable, StorageOutage } from '../../src/store/unavailable.ts';
import { dialects, postgresUrl } from '../support/db.ts';
import { closedPort } from '../support/tcp-proxy.ts';

async function failure(work: () => Promise<unknown>): Promise<unknown> {
  try {
    await work();
  } catch (error) {
    return error;
  }
  assert.fail('expected a failure');
}

describe('isStorageUnavailable', () => {
  test('PostgreSQL on a port nobody listens on', { skip: postgresUrl === undefined }, async () => {
    const url = new URL(postgresUrl!);
    url.hostname = '127.0.0.1';
    url.port = String(await closedPort());
    const store = openStore({ databaseUrl: url.toString(), poolSize: 1 });
    try {
      const error = await failure(() => sql`select 1`.execute(store.db));
      assert.equal(isStorageUnavailable(error), true, String(error));
    } finally {
      await store.close();
    }
  });

  test('a PostgreSQL backend terminated in the middle of a transaction', {
    skip: postgresUrl === undefined,
  }, async () => {
    const schema = `test_unavail_${process.pid}`;
    const errors: Error[] = [];
    const store = openStore({
      databaseUrl: postgresUrl!,
      pgSchema: schema,
      poolSize: 2,
      onConnectionError: (error) => errors.push(error),
    });
    const admin = new pg.Client({ connectionString: postgresUrl });
    await admin.connect();
    try {
      await migrateToLatest(store.db, schema);
      const error = await failure(() =>
        store.db.transaction().execute(async (trx) => {
          const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
          await admin.query('select pg_terminate_backend($1)', [rows[0]!.pid]);
          // The connection is gone while the transaction holds it between two queries.
          await new Promise((resolve) => setTimeout(resolve, 200));
          await sql`select 1`.execute(trx);
        }),
      );
      assert.equal(isStorageUnavailable(error), true, String(error));
      // The process is alive (the listener took the client's 'error') and the pool recovers.
      const { rows } = await sql<{ one: number }>`select 1 as one`.execute(store.db);
      assert.equal(rows[0]!.one, 1);
    } finally {
      await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(store.db);
      await store.close();
      await admin.end();
    }
  });

  test('SQLite when the database is full, in a transaction and alone', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'securemail-full-'));
    const store = openStore({ sqlitePath: path.join(dir, 'full.db') });
    try {
      await migrateToLatest(store.db);
      const { rows } = await sql<{ page_count: number }>`pragma page_count`.execute(store.db);
      await sql.raw(`pragma max_page_count = ${rows[0]!.page_count + 2}`).execute(store.db);
      const big = 'x'.repeat(100_000);
      // In a transaction SQLite rolls back by itself on SQLITE_FULL: the error must be the
      // full disk, not Kysely's ROLLBACK failing after it ("no transaction is active").
      const inTransaction = await failure(() =>
        store.db
          .transaction()
          .execute((trx) => trx.insertInto('settings').values({ key: 'a', value: big }).execute()),
      );
      assert.match(String(inTransaction), /full/);
      assert.equal(isStorageUnavailable(inTransaction), true, String(inTransaction));
      const alone = await failure(() =>
        store.db.insertInto('settings').values({ key: 'b', value: big }).execute(),
      );
      assert.equal(isStorageUnavailable(alone), true, String(alone));
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const dialect of dialects()) {
    test(`a constraint violation or bad SQL is not an outage (${dialect.name})`, async () => {
      const store = await dialect.open();
      try {
        await store.db.insertInto('settings').values({ key: 'k', value: 'v' }).execute();
        const duplicate = await failure(() =>
          store.db.insertInto('settings').values({ key: 'k', value: 'v' }).execute(),
        );
        assert.equal(isStorageUnavailable(duplicate), false, String(duplicate));
        const syntax = await failure(() => sql`selec 1`.execute(store.db));
        assert.equal(isStorageUnavailable(syntax), false, String(syntax));
      } finally {
        await store.close();
      }
    });
  }
});

describe('StorageOutage', () => {
  test('says an outage once when it starts and once when it ends; backs off 1 -> 10 s', () => {
    const lines: { level: string; msg: string }[] = [];
    const logger = pino(
      { level: 'info' },
      { write: (line: string) => lines.push(JSON.parse(line) as { level: string; msg: string }) },
    );
    const outage = new StorageOutage(logger, 'test loop');
    const away = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), {
      code: 'ECONNREFUSED',
    });
    const pauses = Array.from({ length: 7 }, () => outage.failed(away));
    assert.deepEqual(pauses, [1000, 2000, 4000, 8000, 10000, 10000, 10000]);
    assert.equal(outage.down, true);
    outage.succeeded();
    outage.succeeded();
    assert.equal(outage.down, false);
    assert.equal(lines.length, 2, JSON.stringify(lines));
    assert.match(lines[0]!.msg, /unavailable/);
    assert.match(lines[1]!.msg, /back/);
    assert.equal(outage.failed(away), 1000, 'the backoff starts again after a success');
  });
});
