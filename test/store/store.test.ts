import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sql } from 'kysely';
import {
  createClient,
  issueToken,
  listClients,
  resolveToken,
} from '../../src/clients/clients-service.ts';
import { assertMasterKeyMatches } from '../../src/secrets/master-key.ts';
import { hashSecret, randomAlphanumeric, verifySecret } from '../../src/secrets/secret-hash.ts';
import { deleteExpiredTokens } from '../../src/store/clients.repository.ts';
import { migrateToLatest } from '../../src/store/migrations.ts';
import { dialects } from '../support/db.ts';

for (const dialect of dialects()) {
  describe(`store (${dialect.name})`, () => {
    test('migrations are idempotent and ping works', async () => {
      const store = await dialect.open();
      try {
        assert.deepEqual((await migrateToLatest(store.db, store.schema)).applied, []);
        assert.equal(await store.ping(), true);
      } finally {
        await store.close();
      }
    });

    test('clients keep only a hash of the secret; tokens only a hash of the token', async () => {
      const store = await dialect.open();
      try {
        const { clientId, clientSecret } = await createClient(store, { name: 'hash' }, 1000);
        const row = await store.db
          .selectFrom('clients')
          .selectAll()
          .where('client_id', '=', clientId)
          .executeTakeFirstOrThrow();
        assert.ok(!row.secret_hash.includes(clientSecret));
        assert.match(row.secret_hash, /^scrypt\$/);
        const token = await issueToken(store, { clientId, clientSecret }, 1000, 60);
        assert.ok(token);
        const tokens = await store.db.selectFrom('access_tokens').selectAll().execute();
        assert.ok(tokens.every((t) => t.token_hash !== token.accessToken));
        assert.equal((await resolveToken(store, token.accessToken, 1000))?.clientId, clientId);
        assert.equal(await resolveToken(store, token.accessToken, 61_000), undefined, 'expired');
        assert.equal(await deleteExpiredTokens(store.db, 61_000), 1);
        const [listed] = await listClients(store);
        assert.equal(listed?.name, 'hash');
        assert.equal(typeof listed?.createdAt, 'number', 'bigint times come back as numbers');
      } finally {
        await store.close();
      }
    });

    // PostgreSQL only: SQLite has no schemas to drop.
    if (dialect.name === 'postgres')
      test('migrations succeed while other schemas, tables and columns are dropped', async () => {
        // Kysely's migrator lists the columns of every table of every schema; a schema, table
        // or column dropped or renamed during that query failed it (3F000, 42P01, 42703) before
        // src/store/postgres-introspection.ts asked again.
        const churn = await dialect.open();
        let stop = false;
        const dropping = (async () => {
          for (let i = 0; !stop; i++) {
            const name = sql.id(`${churn.schema}_churn_${i}`);
            await sql`create schema ${name}`.execute(churn.db);
            await sql`create table ${name}.t (a serial, b int, c int)`.execute(churn.db);
            await sql`create table ${name}.u (a int)`.execute(churn.db);
            await sql`alter table ${name}.t rename column b to d`.execute(churn.db);
            await sql`alter table ${name}.t drop column c`.execute(churn.db);
            await sql`drop table ${name}.u`.execute(churn.db);
            await sql`drop schema ${name} cascade`.execute(churn.db);
          }
        })();
        try {
          for (let n = 0; n < 6; n++) {
            const store = await dialect.open(); // a new schema, migrated from nothing
            await store.close();
          }
        } finally {
          stop = true;
          await dropping;
          await churn.close();
        }
      });

    test('a second master key is refused by a database set up with the first', async () => {
      const store = await dialect.open();
      try {
        await assertMasterKeyMatches(store, Buffer.alloc(32, 1));
        await assertMasterKeyMatches(store, Buffer.alloc(32, 1));
        await assert.rejects(
          assertMasterKeyMatches(store, Buffer.alloc(32, 2)),
          /master key does not match/,
        );
      } finally {
        await store.close();
      }
    });
  });
}

describe('secret hashing', () => {
  test('verifies the right secret only', async () => {
    const hash = await hashSecret('correct horse');
    assert.equal(await verifySecret('correct horse', hash), true);
    assert.equal(await verifySecret('correct horsf', hash), false);
    assert.equal(await verifySecret('correct horse', 'garbage'), false);
  });
});

describe('client ids', () => {
  test('are letters and digits only, so none reads as a command-line option', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2_000; i++) {
      const id = randomAlphanumeric(32);
      assert.match(id, /^[A-Za-z0-9]{32}$/);
      seen.add(id);
    }
    assert.equal(seen.size, 2_000);
  });

  test('use every letter and digit', () => {
    const counts = new Map<string, number>();
    for (const c of randomAlphanumeric(62 * 200)) counts.set(c, (counts.get(c) ?? 0) + 1);
    assert.equal(counts.size, 62);
    // 200 expected per character; a byte-modulo bias would push the first 8 near 250.
    for (const [c, n] of counts) assert.ok(n > 120 && n < 290, `${c}: ${n}`);
  });
});
