// The queue gauges on both dialects: read from the database at scrape time, one reading
// serving the scrapes of a few seconds, and a database that stops answering leaves the last
// values instead of failing /metrics.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { registerQueueMetrics } from '../../src/metrics/queue-metrics.ts';
import { createRegistry } from '../../src/metrics/registry.ts';
import { newRecipientRow } from '../../src/recipients/accept.ts';
import { insertAccount } from '../../src/store/accounts.repository.ts';
import { insertClient } from '../../src/store/clients.repository.ts';
import { insertMessageWithRecipients } from '../../src/store/messages.repository.ts';
import { dialects } from '../support/db.ts';

const T = 1_800_000_000_000;

for (const dialect of dialects()) {
  describe(`queue gauges (${dialect.name})`, () => {
    test('due and scheduled recipients, cached for a few seconds, kept when the database fails', async () => {
      const store = await dialect.open();
      let closed = false;
      try {
        const db = store.db;
        await insertClient(db, {
          clientId: 'c',
          name: 'c',
          secretHash: 'x',
          quotaLimit: null,
          now: T,
        });
        await insertAccount(db, {
          id: 'a',
          client_id: 'c',
          domain: 'shop.nl',
          notification_email: 'ops@shop.nl',
          state: 'valid',
          bounce_subdomain: 'bounce',
          policy_level: 'verified',
          ownership_token: 't',
          created_at: T,
          updated_at: T,
        });
        let n = 0;
        const add = async (at: number, nextAttemptAt: number) => {
          const id = `m${++n}`;
          await insertMessageWithRecipients(
            db,
            {
              id,
              client_id: 'c',
              account_id: 'a',
              kind: 'message',
              sender: 'news@shop.nl',
              message_id_header: id,
              subject_sealed: null,
              content_hash: id,
              size: 1,
              body_sealed: null,
              require_tls: 0,
              recipient_count: 1,
              response_json: '{}',
              created_at: at,
              completed_at: null,
            },
            [{ ...newRecipientRow(id, `r${n}@x.example`, at), next_attempt_at: nextAttemptAt }],
          );
        };
        const clock = { now: T + 10_000 };
        const registry = createRegistry();
        registerQueueMetrics(registry, { db, now: () => clock.now, cacheMs: 5000 });
        const read = async () => {
          const text = await registry.metrics();
          const value = (name: string) =>
            Number(new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1]);
          return [
            value('securemail_queue_recipients{state="due"}'),
            value('securemail_queue_recipients{state="scheduled"}'),
            value('securemail_queue_oldest_due_seconds'),
          ];
        };
        assert.deepEqual(await read(), [0, 0, 0]);
        await add(T, T);
        await add(T, T + 60_000);
        assert.deepEqual(await read(), [0, 0, 0], 'the reading of a second ago still serves');
        clock.now += 5000;
        assert.deepEqual(await read(), [1, 1, 15], 'due since T, 15 s ago');
        await store.close();
        closed = true;
        clock.now += 5000;
        assert.deepEqual(await read(), [1, 1, 15], 'the last values, while the database fails');
      } finally {
        if (!closed) await store.close();
      }
    });
  });
}
