// Every cell of the recipient transition table (src/recipients/transitions.ts), the empty
// ones too, run against a real store (SQLite, and PostgreSQL when configured): a recipient is
// put in the cell's state, the event happens through the recipients module as the service
// makes it happen, and the test checks the state it ends in (or that its row is gone) and
// whether the change appended a webhook event to the outbox.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WEBHOOK_EVENT_TYPES } from '../../src/outbox/webhook-events.ts';
import { acceptMessage, newRecipientRow } from '../../src/recipients/accept.ts';
import {
  attemptOutcome,
  claimRecipients,
  completeMessages,
  recordAttempts,
} from '../../src/recipients/attempts.ts';
import {
  cancelForErasure,
  completeAfterCancel,
  erasedAddress,
  eraseRecipient,
} from '../../src/recipients/erasure.ts';
import { applyReport } from '../../src/recipients/reports.ts';
import { applyRetention } from '../../src/recipients/retention.ts';
import {
  APPENDS_EVENT,
  type AttemptEvent,
  nextPosition,
  type RecipientEvent,
  type RecipientPosition,
  TRANSITIONS,
} from '../../src/recipients/transitions.ts';
import { inTransaction } from '../../src/store/database.ts';
import type { MessagesTable } from '../../src/store/messages.table.ts';
import { insertWebhook } from '../../src/store/webhooks.repository.ts';
import {
  RECIPIENT_STATUSES,
  type RecipientStatus,
} from '../../src/vocabulary/recipient-statuses.ts';
import {
  type FeedbackStore,
  makeAccount,
  makeMessage,
  openFeedbackStore,
  type TestAccount,
} from '../inbound/support.ts';
import { dialects } from '../support/db.ts';

const POSITIONS: readonly RecipientPosition[] = ['new', ...RECIPIENT_STATUSES, 'gone'];
const EVENTS: readonly RecipientEvent[] = [
  'accepted',
  'suppressed',
  'claimed',
  'delivered',
  'refused',
  'deferred',
  'expired',
  'failed',
  'rejected',
  'bounce-reported',
  'delay-reported',
  'expunged',
  'cancelled',
  'erased',
];
const ATTEMPT_EVENTS: readonly AttemptEvent[] = [
  'delivered',
  'refused',
  'deferred',
  'expired',
  'failed',
  'rejected',
];
/** Far after every row's due time (1,000) and lease. */
const LATER = 10_000_000;

test('the table names every position and every event, and attempts agree for queued and deferred', () => {
  assert.deepEqual(Object.keys(TRANSITIONS).sort(), [...POSITIONS].sort());
  assert.deepEqual(Object.keys(APPENDS_EVENT).sort(), [...EVENTS].sort());
  for (const event of ATTEMPT_EVENTS) {
    assert.equal(TRANSITIONS.queued[event], TRANSITIONS.deferred[event], event);
  }
  // A final state never changes again; the one exception is a bounce after delivery.
  for (const from of RECIPIENT_STATUSES) {
    if (from === 'queued' || from === 'deferred') continue;
    // Expunging removes the row; erasing anonymises it in place and keeps its state.
    const changes = Object.entries(TRANSITIONS[from]).filter(
      ([event, to]) => event !== 'expunged' && !(event === 'erased' && to === from),
    );
    assert.deepEqual(
      changes,
      from === 'delivered' ? [['bounce-reported', 'bounced']] : [],
      `${from} changes`,
    );
  }
});

test('docs/architecture.md shows the same table', () => {
  const doc = readFileSync(path.resolve(import.meta.dirname, '../../docs/architecture.md'), 'utf8');
  const lines = doc.split('\n');
  const header = lines.findIndex((l) => l.startsWith('| state \\ event |'));
  assert.ok(header >= 0, 'the table in docs/architecture.md');
  const cells = (line: string) =>
    line
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
  const events = cells(lines[header]!).slice(1);
  assert.deepEqual([...events].sort(), [...EVENTS].sort());
  const shown = new Map<string, Partial<Record<string, string>>>();
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    const [states, ...targets] = cells(line);
    for (const state of states!.split(', ')) {
      const row: Partial<Record<string, string>> = {};
      targets.forEach((target, i) => {
        if (target !== '')
          row[events[i]!] = target.replace('(gone)', 'gone').replace('(same)', state);
      });
      shown.set(state === '(new)' ? 'new' : state, row);
    }
  }
  for (const position of POSITIONS) {
    if (position === 'gone') continue;
    assert.deepEqual(shown.get(position), TRANSITIONS[position], position);
  }
});

for (const dialect of dialects()) {
  describe(`recipient transitions (${dialect.name})`, () => {
    let fs: FeedbackStore;
    let account: TestAccount;
    before(async () => {
      fs = await openFeedbackStore(dialect);
      account = await makeAccount(fs.store, 'transitions.example');
      // An active webhook that wants every event, so each appended event is seen.
      await insertWebhook(fs.db, {
        id: randomUUID(),
        account_id: account.accountId,
        url: 'https://hooks.example/x',
        events: JSON.stringify(WEBHOOK_EVENT_TYPES),
        secret_sealed: 'unused',
        previous_secret_sealed: null,
        previous_secret_until: null,
        state: 'active',
        failing_since: null,
        last_error: null,
        last_success_at: null,
        disabled_at: null,
        created_at: 1,
        updated_at: 1,
      });
    });
    after(() => fs.close());

    /** A recipient in `position`: a row in that state, no row yet, or a row expunged. */
    async function recipientAt(
      position: RecipientPosition,
    ): Promise<{ id: string; messageId: string }> {
      if (position === 'new') return { id: randomUUID(), messageId: randomUUID() };
      if (position === 'gone') {
        const [r] = await makeMessage(fs.db, account, ['gone@remote.example'], 'delivered');
        await completeMessages(fs.db, [r!.messageId], 2_000);
        await applyRetention(
          fs.db,
          { bodyRetentionMs: 0, subjectRetentionMs: 0, evidenceRetentionMs: 1 },
          3_000,
        );
        return r!;
      }
      const [r] = await makeMessage(fs.db, account, [`${position}@remote.example`], position);
      return r!;
    }

    /** The recipient's state; without a row, `new` if it never had one, else `gone`. */
    async function positionOf(id: string, everExisted: boolean): Promise<RecipientPosition> {
      const row = await fs.db
        .selectFrom('recipients')
        .select('status')
        .where('id', '=', id)
        .executeTakeFirst();
      return row?.status ?? (everExisted ? 'gone' : 'new');
    }

    async function eventsFor(id: string): Promise<number> {
      const rows = await fs.db
        .selectFrom('webhook_events')
        .select('id')
        .where('ordering_key', '=', `recipient:${id}`)
        .execute();
      return rows.length;
    }

    function message(id: string): MessagesTable {
      return {
        id,
        client_id: account.clientId,
        account_id: account.accountId,
        kind: 'message',
        sender: `news@${account.domain}`,
        message_id_header: `${id}@${account.domain}`,
        subject_sealed: null,
        content_hash: id,
        size: 10,
        body_sealed: null,
        require_tls: 0,
        recipient_count: 1,
        response_json: '{}',
        created_at: 1_000,
        completed_at: null,
      };
    }

    /** Makes `event` happen to the recipient the way the service does; returns its id now. */
    async function happen(
      event: RecipientEvent,
      r: { id: string; messageId: string },
      from: RecipientPosition,
    ): Promise<string> {
      switch (event) {
        case 'accepted':
        case 'suppressed': {
          const row = newRecipientRow(
            r.messageId,
            `accepted-${randomUUID()}@remote.example`,
            1_000,
            event === 'suppressed' ? 'on the list' : undefined,
          );
          if (from === 'new') {
            await inTransaction(fs.db, (trx) =>
              acceptMessage(trx, { message: message(r.messageId), recipients: [row] }),
            );
            return row.id;
          }
          // An existing (or expunged) recipient is never accepted again: acceptance always
          // makes a new row with a new id, and an existing id cannot be inserted twice.
          assert.notEqual(row.id, r.id);
          if (from !== 'gone') {
            await assert.rejects(
              inTransaction(fs.db, (trx) =>
                acceptMessage(trx, {
                  message: message(randomUUID()),
                  recipients: [{ ...row, id: r.id }],
                }),
              ),
            );
          }
          return r.id;
        }
        case 'claimed': {
          await claimRecipients(fs.store, {
            owner: 'claimer',
            now: LATER,
            limit: 1000,
            leaseMs: 60_000,
          });
          return r.id;
        }
        case 'delivered':
        case 'refused':
        case 'deferred':
        case 'expired':
        case 'failed':
        case 'rejected': {
          const owner = `worker-${randomUUID()}`;
          const claimed = await claimRecipients(fs.store, {
            owner,
            now: LATER + 1,
            limit: 1000,
            leaseMs: 60_000,
          });
          const mine = claimed.find((c) => c.id === r.id);
          const kept = await recordAttempts(fs.db, owner, LATER + 2, [
            {
              recipient: mine ?? {
                id: r.id,
                messageId: r.messageId,
                address: 'x@remote.example',
                domain: 'remote.example',
                attempts: 0,
                acceptedAt: 1_000,
                accountId: account.accountId,
                accountDomain: account.domain,
                bounceSubdomain: 'bounce',
                policyLevel: 'verified',
                requireTls: false,
                messageKind: 'message',
                size: 10,
              },
              recipientId: r.id,
              outcome: attemptOutcome(event, {
                reason: null,
                detail: event,
                ...(event === 'deferred' ? { nextAttemptAt: LATER + 100 } : {}),
              }),
              attempt: undefined,
            },
          ]);
          assert.deepEqual(kept, [mine !== undefined], 'the outcome is kept exactly when claimed');
          return r.id;
        }
        case 'bounce-reported':
        case 'delay-reported':
          await applyReport(fs.db, {
            recipientId: r.id,
            kind: event === 'bounce-reported' ? 'bounce' : 'delay',
            detail: 'reported',
            hardBounce: false,
            at: LATER,
          });
          return r.id;
        case 'expunged':
          await completeMessages(fs.db, [r.messageId], LATER);
          await applyRetention(
            fs.db,
            { bodyRetentionMs: 0, subjectRetentionMs: 0, evidenceRetentionMs: 1 },
            LATER + 10,
          );
          return r.id;
        case 'cancelled': {
          // As src/privacy/erasure.ts does: cancel, then complete the message.
          await cancelForErasure(fs.db, [r.id], LATER);
          await completeAfterCancel(fs.db, [r.messageId], LATER);
          return r.id;
        }
        case 'erased': {
          const row = await fs.db
            .selectFrom('recipients')
            .selectAll()
            .where('id', '=', r.id)
            .executeTakeFirst();
          if (row !== undefined) {
            const erased = await eraseRecipient(
              fs.db,
              row,
              (t) => t.split(row.address).join('[x]'),
              LATER,
            );
            const after = await fs.db
              .selectFrom('recipients')
              .select('address')
              .where('id', '=', r.id)
              .executeTakeFirstOrThrow();
            // Allowed: the address is gone; not allowed (still waiting): untouched.
            assert.equal(
              after.address,
              erased === undefined ? row.address : erasedAddress(row.address),
            );
          }
          return r.id;
        }
        default: {
          const never: never = event;
          throw new Error(`unknown event ${String(never)}`);
        }
      }
    }

    for (const from of POSITIONS) {
      for (const event of EVENTS) {
        const to = nextPosition(from, event);
        test(`${from} --${event}--> ${to ?? `(not allowed: stays ${from})`}`, async () => {
          const r = await recipientAt(from);
          const eventsBefore = await eventsFor(r.id);
          const id = await happen(event, r, from);
          const accepted = from === 'new' && to !== undefined;
          assert.equal(await positionOf(id, from !== 'new' || accepted), to ?? from);
          const appended = (await eventsFor(id)) - (id === r.id ? eventsBefore : 0);
          const expectEvent = to !== undefined && APPENDS_EVENT[event];
          assert.equal(appended, expectEvent ? 1 : 0, 'outbox events appended');
          if (event === 'claimed' && to !== undefined && to !== 'gone') {
            const row = await fs.db
              .selectFrom('recipients')
              .select('lease_owner')
              .where('id', '=', id)
              .executeTakeFirstOrThrow();
            assert.equal(row.lease_owner, 'claimer');
          }
        });
      }
    }

    test('a delay report changes only the detail of a recipient still being retried', async () => {
      const [r] = await makeMessage(fs.db, account, ['delay@remote.example'], 'deferred');
      await happen('delay-reported', r!, 'deferred');
      const row = await fs.db
        .selectFrom('recipients')
        .selectAll()
        .where('id', '=', r!.id)
        .executeTakeFirstOrThrow();
      assert.equal(row.status, 'deferred');
      assert.equal(row.detail, 'reported');
      assert.equal(row.final_at, null);
    });

    test('only statuses are reached, never a position without a row but gone', () => {
      for (const from of POSITIONS) {
        for (const to of Object.values(TRANSITIONS[from])) {
          assert.ok(to === 'gone' || RECIPIENT_STATUSES.includes(to as RecipientStatus), to);
        }
      }
    });
  });
}
