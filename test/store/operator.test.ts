// The operator's reads (src/store/operator.repository.ts, queue.repository.ts) on both
// dialects: every tenant at once, with account and client, the filters of the commands, and
// the queue's counts as the CLI and /metrics take them.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { newRecipientRow } from '../../src/recipients/accept.ts';
import { insertAccount } from '../../src/store/accounts.repository.ts';
import { insertClient } from '../../src/store/clients.repository.ts';
import type { Db } from '../../src/store/database.ts';
import { insertMessageWithRecipients } from '../../src/store/messages.repository.ts';
import type { MessagesTable } from '../../src/store/messages.table.ts';
import {
  countSuppressions,
  findAccountsFor,
  findAnyMessage,
  listAllAccounts,
  listAllMessages,
  listAllSuppressions,
} from '../../src/store/operator.repository.ts';
import { queueDepth, queueSummary } from '../../src/store/queue.repository.ts';
import { insertSuppression } from '../../src/store/suppressions.repository.ts';
import type { RecipientStatus } from '../../src/vocabulary/recipient-statuses.ts';
import { dialects } from '../support/db.ts';

const T = 1_800_000_000_000;

async function client(db: Db, id: string, name: string) {
  await insertClient(db, { clientId: id, name, secretHash: 'x', quotaLimit: null, now: T });
}

async function account(db: Db, clientId: string, domain: string, state: 'valid' | 'unverified') {
  const id = randomUUID();
  await insertAccount(db, {
    id,
    client_id: clientId,
    domain,
    notification_email: `ops@${domain}`,
    state,
    bounce_subdomain: 'bounce',
    policy_level: 'verified',
    ownership_token: 'token',
    created_at: T,
    updated_at: T,
  });
  return id;
}

interface RecipientSpec {
  address: string;
  status: RecipientStatus;
  nextAttemptAt?: number;
  reason?: string;
  leaseUntil?: number;
}

async function message(
  db: Db,
  owner: { clientId: string; accountId: string },
  at: number,
  recipients: RecipientSpec[],
  kind: MessagesTable['kind'] = 'message',
) {
  const id = randomUUID();
  const rows = recipients.map((r) => ({
    ...newRecipientRow(id, r.address, at),
    status: r.status,
    next_attempt_at: r.nextAttemptAt ?? at,
    reason: r.reason ?? null,
    lease_owner: r.leaseUntil === undefined ? null : 'worker-1',
    lease_until: r.leaseUntil ?? null,
    final_at: r.status === 'queued' || r.status === 'deferred' ? null : at,
  }));
  await insertMessageWithRecipients(
    db,
    {
      id,
      client_id: owner.clientId,
      account_id: owner.accountId,
      kind,
      sender: 'news@sender.example',
      message_id_header: `${id}@sender.example`,
      subject_sealed: null,
      content_hash: id,
      size: 100,
      body_sealed: null,
      require_tls: 0,
      recipient_count: rows.length,
      response_json: '{}',
      created_at: at,
      completed_at: null,
    },
    rows,
  );
  return id;
}

for (const dialect of dialects()) {
  describe(`operator view (${dialect.name})`, () => {
    test('accounts, messages and suppressions of every tenant, with account and client', async () => {
      const store = await dialect.open();
      try {
        const db = store.db;
        await client(db, 'client-a', 'Shop');
        await client(db, 'client-b', 'Bakery');
        const shop = await account(db, 'client-a', 'shop.nl', 'valid');
        // Two tenants may claim one domain; only one can prove it.
        const squat = await account(db, 'client-b', 'shop.nl', 'unverified');
        const bakery = await account(db, 'client-b', 'bakery.nl', 'valid');

        const all = await listAllAccounts(db);
        assert.deepEqual(
          all.map((a) => [a.domain, a.client_name, a.state]),
          [
            ['bakery.nl', 'Bakery', 'valid'],
            ['shop.nl', 'Shop', 'valid'],
            ['shop.nl', 'Bakery', 'unverified'],
          ],
        );
        assert.equal(all[0]!.last_checked_at, null, 'no schedule row: never checked');
        assert.equal((await listAllAccounts(db, { clientId: 'client-a' })).length, 1);
        assert.deepEqual(
          (await listAllAccounts(db, { state: 'unverified' })).map((a) => a.id),
          [squat],
        );
        assert.deepEqual(
          (await findAccountsFor(db, 'shop.nl')).map((a) => a.id),
          [shop, squat],
        );
        assert.deepEqual(
          (await findAccountsFor(db, bakery)).map((a) => a.domain),
          ['bakery.nl'],
        );

        const first = await message(db, { clientId: 'client-a', accountId: shop }, T, [
          { address: 'a@x.example', status: 'delivered' },
          { address: 'b@y.example', status: 'bounced' },
        ]);
        const second = await message(db, { clientId: 'client-b', accountId: bakery }, T + 1000, [
          { address: 'c@x.example', status: 'deferred' },
        ]);
        const notice = await message(
          db,
          { clientId: 'client-b', accountId: bakery },
          T + 2000,
          [{ address: 'ops@bakery.nl', status: 'queued' }],
          'notification',
        );
        const ids = async (filter: Partial<Parameters<typeof listAllMessages>[1]>) =>
          (await listAllMessages(db, { limit: 10, ...filter })).map((m) => m.id);
        assert.deepEqual(await ids({}), [notice, second, first], 'newest first, every tenant');
        assert.deepEqual(await ids({ limit: 1 }), [notice]);
        assert.deepEqual(await ids({ status: 'bounced' }), [first]);
        assert.deepEqual(await ids({ domain: 'bakery.nl' }), [notice, second]);
        assert.deepEqual(await ids({ clientId: 'client-a' }), [first]);
        assert.deepEqual(await ids({ kind: 'message' }), [second, first]);
        assert.deepEqual(await ids({ since: T + 1000 }), [notice, second]);
        const found = await findAnyMessage(db, second);
        assert.equal(found?.account_domain, 'bakery.nl');
        assert.equal(found?.client_name, 'Bakery');
        assert.equal(await findAnyMessage(db, 'nothing'), undefined);

        for (const [accountId, address] of [
          [shop, 'gone@x.example'],
          [shop, 'left@x.example'],
          [bakery, 'gone@x.example'],
        ] as const) {
          await insertSuppression(db, {
            accountId,
            address,
            reason: 'manual',
            detail: null,
            recipientId: null,
            at: T,
          });
        }
        const listed = await listAllSuppressions(db, { limit: 10 });
        assert.deepEqual(
          listed.map((s) => [s.account_domain, s.client_name, s.address]),
          [
            ['bakery.nl', 'Bakery', 'gone@x.example'],
            ['shop.nl', 'Shop', 'gone@x.example'],
            ['shop.nl', 'Shop', 'left@x.example'],
          ],
        );
        assert.equal((await listAllSuppressions(db, { limit: 10, domain: 'shop.nl' })).length, 2);
        assert.equal((await listAllSuppressions(db, { limit: 1 })).length, 1);
        assert.equal(
          (await listAllSuppressions(db, { limit: 10, clientId: 'client-b' }))[0]?.account_id,
          bakery,
        );
        const counts = await countSuppressions(db);
        assert.equal(counts.get(shop), 2);
        assert.equal(counts.get(squat), undefined);
      } finally {
        await store.close();
      }
    });

    test('the queue: index-only depth for scrapes, the whole summary for the command', async () => {
      const store = await dialect.open();
      try {
        const db = store.db;
        const now = T + 60_000;
        assert.deepEqual(await queueDepth(db, now), { open: 0, due: 0, oldestDueAt: null });
        await client(db, 'client-a', 'Shop');
        const shop = await account(db, 'client-a', 'shop.nl', 'valid');
        const owner = { clientId: 'client-a', accountId: shop };
        await message(db, owner, T, [
          { address: 'a@big.example', status: 'queued' },
          { address: 'b@big.example', status: 'queued', leaseUntil: now + 30_000 },
          {
            address: 'c@big.example',
            status: 'deferred',
            nextAttemptAt: now + 300_000,
            reason: 'smtp-timeout',
          },
          {
            address: 'd@big.example',
            status: 'deferred',
            nextAttemptAt: now + 600_000,
            reason: 'connection-failed',
          },
          {
            address: 'e@big.example',
            status: 'deferred',
            nextAttemptAt: now + 900_000,
            reason: 'smtp-timeout',
          },
          { address: 'f@big.example', status: 'delivered' },
        ]);
        await message(db, owner, T - 3_600_000, [
          {
            address: 'g@small.example',
            status: 'deferred',
            nextAttemptAt: now - 1000,
            reason: 'dns-temporary-failure',
          },
          { address: 'h@small.example', status: 'refused_insecure' },
        ]);

        assert.deepEqual(await queueDepth(db, now), {
          open: 6,
          due: 3,
          oldestDueAt: T,
        });

        const q = await queueSummary(db, now, 10);
        assert.equal(q.queued, 2);
        assert.equal(q.deferred, 4);
        assert.equal(q.inFlight, 1);
        assert.equal(q.due, 3);
        assert.equal(q.oldestDeferred?.domain, 'small.example');
        assert.equal(q.oldestDeferred?.reason, 'dns-temporary-failure');
        assert.equal(q.oldestDeferred?.acceptedAt, T - 3_600_000);
        assert.equal(q.nextAttemptAt, now + 300_000, 'the next retry still to come');
        assert.equal(q.destinationCount, 2);
        assert.deepEqual(
          q.destinations.map((d) => [d.domain, d.queued, d.deferred, d.nextAttemptAt, d.reason]),
          [
            ['big.example', 2, 3, T, 'smtp-timeout'],
            ['small.example', 0, 1, now - 1000, 'dns-temporary-failure'],
          ],
        );
        const top = await queueSummary(db, now, 1);
        assert.deepEqual(
          top.destinations.map((d) => d.domain),
          ['big.example'],
        );
        assert.equal(top.destinationCount, 2);
      } finally {
        await store.close();
      }
    });
  });
}
