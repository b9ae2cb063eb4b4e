// The doctor's view of the database on both dialects: a read-only store that cannot write,
// the migrations a database has had (pending ones, and ones from a newer version), whether
// the master key opens it, and the clock against the database server's and against the
// times the service recorded.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { describe, test } from 'node:test';
import { sql } from 'kysely';
import { checkClock } from '../../src/doctor/database.ts';
import { assertMasterKeyMatches, masterKeyState } from '../../src/secrets/master-key.ts';
import { openStore, type Store } from '../../src/store/database.ts';
import { migrationStatus } from '../../src/store/migrations.ts';
import { dialects, postgresUrl, type TestStore } from '../support/db.ts';
import { insertTokenIssuedLater } from './support.ts';

/** The same data, opened the doctor's way. */
function readOnlyTwin(store: TestStore): Store {
  if (store.dialect === 'postgres') {
    return openStore({
      databaseUrl: postgresUrl,
      ...(store.schema === undefined ? {} : { pgSchema: store.schema }),
      readOnly: true,
    });
  }
  const file = store.description.replace(/^sqlite:/, '');
  return openStore({ sqlitePath: path.resolve(file), readOnly: true });
}

for (const dialect of dialects()) {
  describe(`doctor and the database (${dialect.name})`, () => {
    test('a read-only store reads and cannot write', async () => {
      const store = await dialect.open();
      const twin = readOnlyTwin(store);
      try {
        assert.equal(await twin.ping(), true);
        const status = await migrationStatus(twin.db, twin.schema);
        assert.deepEqual(status.pending, []);
        assert.ok(status.applied.length >= 7);
        await assert.rejects(
          twin.db.insertInto('settings').values({ key: 'k', value: 'v' }).execute(),
          /read.?only/i,
        );
      } finally {
        await twin.close();
        await store.close();
      }
    });

    test('migrations: pending ones, and ones a newer version ran', async () => {
      const store = await dialect.open('0005_session_evidence');
      try {
        const early = await migrationStatus(store.db, store.schema);
        // Every migration after 0005, in order (later ones join the list as they are added).
        assert.deepEqual(early.pending.slice(0, 2), [
          '0006_inbound_raw_bytes',
          '0007_sealed_content',
        ]);
        assert.deepEqual(early.pending, [...early.pending].sort());
        assert.deepEqual(early.unknown, []);
        await sql`insert into kysely_migration (name, timestamp) values ('9999_future', '2030-01-01')`.execute(
          store.db,
        );
        assert.deepEqual((await migrationStatus(store.db, store.schema)).unknown, ['9999_future']);
      } finally {
        await store.close();
      }
    });

    test('the master key: not recorded, then matching, and another one differs', async () => {
      const store = await dialect.open();
      try {
        const key = randomBytes(32);
        assert.equal(await masterKeyState(store, key), 'not-recorded');
        await assertMasterKeyMatches(store, key);
        assert.equal(await masterKeyState(store, key), 'matches');
        assert.equal(await masterKeyState(store, randomBytes(32)), 'differs');
      } finally {
        await store.close();
      }
    });

    test('the clock: against the database server and the recorded times', async () => {
      const store = await dialect.open();
      try {
        const server = await store.serverTime();
        if (dialect.name === 'sqlite') {
          assert.equal(server, undefined, "SQLite runs on this process's clock");
        } else {
          assert.ok(Math.abs((server ?? 0) - Date.now()) < 5000);
          const [ahead] = await checkClock(store, server! + 60_000);
          assert.equal(ahead?.status, 'fail');
          assert.match(ahead!.message, /\b(59|60)\d{3} ms ahead of the database server's/);
          const [slightly] = await checkClock(store, server! + 5000);
          assert.equal(slightly?.status, 'warn');
        }
        const now = Date.now();
        const [fine] = await checkClock(store, now);
        assert.equal(fine?.status, 'ok', fine?.message);

        // A token issued an hour "later": this clock went back.
        await insertTokenIssuedLater(store, now);
        const found = await checkClock(store, now);
        const back = found.find((f) => f.status === 'fail');
        assert.match(back?.message ?? '', /3600 s ahead of this clock.*the clock went back/);
        const [early] = await checkClock(undefined, Date.UTC(2001, 0, 1));
        assert.equal(early?.status, 'fail');
      } finally {
        await store.close();
      }
    });
  });
}
