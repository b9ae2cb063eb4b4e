// Migration 0010 (issue 15, nothing lost under faults): the workers that hold claims, so that
// a worker that stopped (SIGKILL, a lost machine) has its claims taken back within seconds,
// not when their 600-second lease runs out.
//
// - `workers`: one row per running delivery worker (workers.table.ts). It beats every 2 s:
//   `beats` goes up by one. Observers judge a worker by whether `beats` changed on their own
//   monotonic clock, never by comparing `last_beat_at` with their wall clock.
// - `recipients_leased`: recipients under a lease, by lease owner. Partial, so it holds only
//   the few claimed rows (a worker holds at most a few thousand), never the millions of final
//   ones: "the claims of worker X" and "the owners with claims" read only it.
// Registered in migrations.ts as `0010_workers`.

import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';

export const workersMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('workers')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('host', 'text', (c) => c.notNull())
      .addColumn('pid', 'integer', (c) => c.notNull())
      .addColumn('started_at', 'bigint', (c) => c.notNull())
      .addColumn('last_beat_at', 'bigint', (c) => c.notNull())
      .addColumn('beats', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('recipients_leased')
      .on('recipients')
      .column('lease_owner')
      .where(sql.ref('lease_owner'), 'is not', null)
      .execute();
  },
};
