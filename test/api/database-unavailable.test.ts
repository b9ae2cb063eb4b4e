// The API when the database is away answers 503 with Retry-After and the error body, never
// 500 and never 202 for what was not committed: PostgreSQL behind a proxy that is taken down
// (connections cut, new ones refused) and brought back, and an SQLite database that is full
// (PRAGMA max_page_count). Nothing is half-stored, and the same request succeeds once the
// database is back, without a restart.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { sql } from 'kysely';
import { openStore, type Store } from '../../src/store/database.ts';
import { migrateToLatest } from '../../src/store/migrations.ts';
import { mime, SENDER_DOMAIN, startWorld, type World } from '../delivery/support.ts';
import { postgresUrl } from '../support/db.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';

async function counts(store: Store): Promise<{ messages: number; recipients: number }> {
  const m = await store.db
    .selectFrom('messages')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  const r = await store.db
    .selectFrom('recipients')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return { messages: Number(m.n), recipients: Number(r.n) };
}

function payload(body = 'Hello,\r\n\r\nthis is a test.\r\n') {
  return {
    sender: `news@${SENDER_DOMAIN}`,
    recipients: ['a@away.test', 'b@away.test'],
    message: mime({}, body),
  };
}

function assertUnavailable(response: {
  statusCode: number;
  headers: Record<string, unknown>;
  json(): unknown;
  body: string;
}) {
  assert.equal(response.statusCode, 503, response.body);
  assert.equal(response.headers['retry-after'], '5');
  const body = response.json() as Record<string, unknown>;
  assert.equal(body.name, 'service_unavailable');
  assert.equal(body.status, 503);
  assert.equal(body.info, 'docs/errors.md#service_unavailable');
  assert.equal(typeof body.transactionId, 'string');
  // A 5xx body says nothing about the inside.
  assert.doesNotMatch(response.body, /ECONN|SQLITE|terminated|5432|disk/i);
}

describe('the API with the database away', () => {
  test('PostgreSQL unreachable: 503 + Retry-After, then 202 once it is back', {
    skip: postgresUrl === undefined,
  }, async (t) => {
    const target = new URL(postgresUrl!);
    const proxy = await TcpProxy.start({
      host: target.hostname,
      port: Number(target.port || 5432),
    });
    const schema = `test_api_away_${process.pid}`;
    const store = openStore({
      databaseUrl: proxy.url(postgresUrl!),
      pgSchema: schema,
      poolSize: 4,
    });
    // Counts are read past the proxy, as an operator's tool would.
    const direct = openStore({ databaseUrl: postgresUrl!, pgSchema: schema, poolSize: 1 });
    let w: World | undefined;
    t.after(async () => {
      await w?.close();
      await store.close();
      await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(direct.db);
      await direct.close();
      await proxy.close();
    });
    await migrateToLatest(store.db, schema);
    w = await startWorld(store);
    const before = await counts(direct);

    proxy.down();
    const started = Date.now();
    const refused = await w.submit(payload());
    assertUnavailable(refused);
    assert.ok(Date.now() - started < 11_000, 'answered within the connection timeout');
    // The token endpoint and reads too: 503, not 500.
    assertUnavailable(
      await w.app.inject({
        method: 'GET',
        url: `/account?domain=${SENDER_DOMAIN}`,
        headers: w.tenant.auth,
      }),
    );
    assert.deepEqual(await counts(direct), before, 'nothing stored while away');

    proxy.up();
    const accepted = await w.submit(payload());
    assert.equal(accepted.statusCode, 202, accepted.body);
    const after = await counts(direct);
    assert.deepEqual(after, { messages: before.messages + 1, recipients: before.recipients + 2 });
  });

  test('SQLite full: 503 + Retry-After, nothing half-stored, 202 once there is room', async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'securemail-api-full-'));
    const store = openStore({ sqlitePath: path.join(dir, 'full.db') });
    let w: World | undefined;
    t.after(async () => {
      await w?.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    });
    await migrateToLatest(store.db);
    w = await startWorld(store);
    const before = await counts(store);
    const { rows } = await sql<{ page_count: number }>`pragma page_count`.execute(store.db);
    const pages = rows[0]!.page_count;
    await sql.raw(`pragma max_page_count = ${pages + 2}`).execute(store.db);

    // A message larger than what is left: the insert fails with SQLITE_FULL.
    // Random text: what is sealed does not compress to nothing.
    const big = Array.from({ length: 3_000 }, () => randomBytes(38).toString('hex')).join('\r\n');
    const refused = await w.submit(payload(big));
    assertUnavailable(refused);
    assert.deepEqual(
      await counts(store),
      before,
      'no message without its recipients, or the reverse',
    );

    await sql.raw('pragma max_page_count = 1073741823').execute(store.db);
    const accepted = await w.submit(payload(big));
    assert.equal(accepted.statusCode, 202, accepted.body);
    assert.deepEqual(await counts(store), {
      messages: before.messages + 1,
      recipients: before.recipients + 2,
    });
  });
});
