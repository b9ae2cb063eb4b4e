// Writes that share a commit: each caller hears of its own write only, and only once it is
// committed; a write that fails is undone alone.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createClient } from '../../src/clients/clients-service.ts';
import { createCommits } from '../../src/store/group-commit.ts';
import { dialects } from '../support/db.ts';

for (const dialect of dialects()) {
  describe(`group commit (${dialect.name})`, () => {
    test('concurrent writes: each settles with its own outcome, after its commit', async () => {
      const store = await dialect.open();
      const sibling = await store.openSibling();
      const commits = createCommits(store);
      try {
        const { clientId } = await createClient(store, { name: 'group' }, 0);
        const visible = async (window: number) =>
          (await sibling.db
            .selectFrom('quota_usage')
            .select('used')
            .where('client_id', '=', clientId)
            .where('window_start', '=', window)
            .executeTakeFirst()) !== undefined;

        const outcomes = await Promise.allSettled(
          Array.from({ length: 12 }, (_, i) =>
            commits
              .transaction(async (db) => {
                await db
                  .insertInto('quota_usage')
                  .values({
                    client_id: i % 3 === 1 ? 'no-such-client' : clientId,
                    window_start: i,
                    used: 1,
                  })
                  .execute();
                if (i % 3 === 0) throw new Error(`refused ${i}`);
                return i;
              })
              // Seen from another connection the moment it resolves: committed.
              .then(async (value) => ({ value, visible: await visible(value) })),
          ),
        );
        outcomes.forEach((outcome, i) => {
          if (i % 3 === 2) {
            assert.equal(outcome.status, 'fulfilled', String(i));
            assert.deepEqual(outcome.value, { value: i, visible: true });
          } else {
            assert.equal(outcome.status, 'rejected', String(i));
            if (i % 3 === 0) assert.equal(outcome.reason.message, `refused ${i}`);
            else assert.doesNotMatch(String(outcome.reason), /refused/);
          }
        });
        const rows = await store.db
          .selectFrom('quota_usage')
          .select('window_start')
          .orderBy('window_start')
          .execute();
        assert.deepEqual(
          rows.map((r) => Number(r.window_start)),
          [2, 5, 8, 11],
        );
      } finally {
        await commits.drain();
        await store.close();
      }
    });

    test('a statement that fails among others fails alone; the others commit', async () => {
      const store = await dialect.open();
      const commits = createCommits(store);
      try {
        const { clientId } = await createClient(store, { name: 'statements' }, 0);
        const outcomes = await Promise.allSettled(
          Array.from({ length: 9 }, (_, i) => {
            const insert = (db: Parameters<Parameters<typeof commits.statement>[0]>[0]) =>
              db
                .insertInto('quota_usage')
                .values({
                  // An unknown client breaks the foreign key: the statement fails.
                  client_id: i % 3 === 0 ? 'no-such-client' : clientId,
                  window_start: i,
                  used: 1,
                })
                .execute()
                .then(() => i);
            return i % 2 === 0 ? commits.statement(insert) : commits.transaction(insert);
          }),
        );
        assert.deepEqual(
          outcomes.map((o) => o.status),
          outcomes.map((_, i) => (i % 3 === 0 ? 'rejected' : 'fulfilled')),
        );
        const rows = await store.db
          .selectFrom('quota_usage')
          .select('window_start')
          .orderBy('window_start')
          .execute();
        assert.deepEqual(
          rows.map((r) => Number(r.window_start)),
          [1, 2, 4, 5, 7, 8],
        );
      } finally {
        await commits.drain();
        await store.close();
      }
    });

    test('a statement alone resolves with its value', async () => {
      const store = await dialect.open();
      const commits = createCommits(store);
      try {
        const { clientId } = await createClient(store, { name: 'single' }, 0);
        const used = await commits.statement(async (db) => {
          const row = await db
            .insertInto('quota_usage')
            .values({ client_id: clientId, window_start: 0, used: 7 })
            .returning('used')
            .executeTakeFirstOrThrow();
          return Number(row.used);
        });
        assert.equal(used, 7);
      } finally {
        await commits.drain();
        await store.close();
      }
    });
  });
}
