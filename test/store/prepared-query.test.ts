import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import { createClient } from '../../src/clients/clients-service.ts';
import { prepareQuery } from '../../src/store/prepared-query.ts';
import type { Database } from '../../src/store/schema.ts';
import { dialects } from '../support/db.ts';

const clientsNamed = prepareQuery((db: Kysely<Database>, p: { name: string; after: number }) =>
  db
    .selectFrom('clients')
    .select(['client_id', 'name'])
    .where('name', '=', p.name)
    .where('created_at', '>', p.after)
    .where('quota_limit', 'is', null)
    .orderBy('client_id'),
);

for (const dialect of dialects()) {
  describe(`prepared queries (${dialect.name})`, () => {
    test('answer like the built query, with new values each run, in and out of transactions', async () => {
      const store = await dialect.open();
      try {
        await createClient(store, { name: 'a' }, 1000);
        await createClient(store, { name: 'b' }, 2000);
        await createClient(store, { name: 'b' }, 3000);
        const built = (name: string, after: number) =>
          store.db
            .selectFrom('clients')
            .select(['client_id', 'name'])
            .where('name', '=', name)
            .where('created_at', '>', after)
            .where('quota_limit', 'is', null)
            .orderBy('client_id')
            .execute();
        for (const [name, after] of [
          ['a', 0],
          ['b', 0],
          ['b', 2000],
          ['c', 0],
        ] as const) {
          const { rows } = await clientsNamed(store.db, { name, after });
          assert.deepEqual(
            rows.map((r) => ({ ...r })),
            (await built(name, after)).map((r) => ({ ...r })),
          );
        }
        const inside = await store.db
          .transaction()
          .execute(async (trx) => (await clientsNamed(trx, { name: 'b', after: 0 })).rows);
        assert.equal(inside.length, 2);
        const finished = await store.db.startTransaction().execute();
        await finished.commit().execute();
        await assert.rejects(
          clientsNamed(finished, { name: 'b', after: 0 }),
          /committed|rolled back/,
          'a finished transaction is not run on',
        );
      } finally {
        await store.close();
      }
    });

    test('a parameter that does not become a bound parameter is refused', async () => {
      const store = await dialect.open();
      try {
        const inlined = prepareQuery((db: Kysely<Database>, p: { name: string }) =>
          db
            .selectFrom('clients')
            .select('client_id')
            .where('name', '=', sql.lit(String(p.name))),
        );
        await assert.rejects(inlined(store.db, { name: 'a' }), /not bound/);
      } finally {
        await store.close();
      }
    });
  });
}
