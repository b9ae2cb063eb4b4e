// An erasure against a worker that holds a claim (a lease) on a recipient of the address: the
// worker may be sending right now, so the erasure neither cancels that recipient nor lets the
// worker's outcome write the address back. It waits for the outcome and then erases it too;
// it gives up with 409 delivery_in_progress when the wait is over; and once a lease has run
// out, the recipient is cancelled and the late worker's outcome is refused.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { AppError } from '../../src/errors.ts';
import { eraseDataSubject } from '../../src/privacy/erasure.ts';
import {
  attemptOutcome,
  type ClaimedRecipient,
  claimRecipients,
  recordAttempts,
} from '../../src/recipients/attempts.ts';
import type { Account } from '../../src/store/schema.ts';
import {
  type FeedbackStore,
  makeAccount,
  makeMessage,
  openFeedbackStore,
  type TestAccount,
} from '../inbound/support.ts';
import { dialects } from '../support/db.ts';

const NOW = 5_000_000;

for (const dialect of dialects()) {
  describe(`erasure and leases (${dialect.name})`, () => {
    let fs: FeedbackStore;
    let account: TestAccount;
    let row: Account;
    const masterKey = randomBytes(32);
    before(async () => {
      fs = await openFeedbackStore(dialect);
      account = await makeAccount(fs.store, 'lease.example');
      row = await fs.db
        .selectFrom('accounts')
        .selectAll()
        .where('id', '=', account.accountId)
        .executeTakeFirstOrThrow();
    });
    after(() => fs.close());

    const erase = (address: string, maxWaitMs: number, now = NOW) =>
      eraseDataSubject(
        {
          db: fs.db,
          masterKey,
          now: () => now,
          maxWaitMs,
          sleep: (ms) => new Promise((r) => setTimeout(r, ms / 4)),
        },
        { account: row, address, clientId: account.clientId, via: 'api' },
      );

    const claim = async (owner: string, leaseMs: number): Promise<ClaimedRecipient[]> =>
      claimRecipients(fs.store, { owner, now: NOW, limit: 100, leaseMs });

    const deliver = (owner: string, r: ClaimedRecipient, address: string) =>
      recordAttempts(fs.db, owner, NOW + 1, [
        {
          recipient: r,
          recipientId: r.id,
          outcome: attemptOutcome('delivered', { reason: null, detail: `250 ok <${address}>` }),
          attempt: {
            id: `attempt-${r.id}`,
            startedAt: NOW,
            endedAt: NOW + 1,
            verdict: 'deliver',
            reason: null,
            mxHost: 'mx.remote.example',
            reply: `250 2.0.0 <${address}> accepted`,
            evidenceJson: JSON.stringify({ recipient: address, authentication: 'pkix' }),
          },
        },
      ]);

    const recipient = (id: string) =>
      fs.db.selectFrom('recipients').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

    test('a live claim: the erasure waits for the outcome, then erases it too', async () => {
      const [r] = await makeMessage(fs.db, account, ['wait@remote.example'], 'queued');
      const [claimed] = (await claim('live-worker', 600_000)).filter((c) => c.id === r!.id);
      assert.ok(claimed);
      const erasing = erase('wait@remote.example', 10_000);
      await new Promise((resolve) => setTimeout(resolve, 150));
      // Still waiting: the recipient was not cancelled under the worker.
      assert.equal((await recipient(r!.id)).status, 'queued');
      assert.deepEqual(await deliver('live-worker', claimed, 'wait@remote.example'), [true]);
      const result = await erasing;
      assert.equal(result.cancelled, 0);
      assert.equal(result.counts.recipients, 1);
      assert.equal(result.counts.attempts, 1);
      const after = await recipient(r!.id);
      assert.equal(after.status, 'delivered', 'the outcome stands');
      assert.equal(after.address, '[erased]@remote.example');
      const attempt = await fs.db
        .selectFrom('attempts')
        .selectAll()
        .where('recipient_id', '=', r!.id)
        .executeTakeFirstOrThrow();
      assert.doesNotMatch(`${attempt.reply} ${attempt.evidence_json}`, /wait@remote/);
    });

    test('a claim that outlasts the wait: 409 with Retry-After, nothing cancelled under it', async () => {
      const [r] = await makeMessage(fs.db, account, ['stuck@remote.example'], 'queued');
      const [other] = await makeMessage(fs.db, account, ['stuck@remote.example'], 'deferred');
      // Only the first is claimed; the second waits unclaimed (its next attempt is later).
      await fs.db
        .updateTable('recipients')
        .set({ next_attempt_at: NOW + 3_600_000 })
        .where('id', '=', other!.id)
        .execute();
      const mine = (await claim('stuck-worker', 120_000)).filter((c) => c.id === r!.id);
      assert.equal(mine.length, 1);
      await assert.rejects(erase('stuck@remote.example', 100), (error: unknown) => {
        assert.ok(error instanceof AppError);
        assert.equal(error.code, 'delivery_in_progress');
        assert.equal(error.status, 409);
        assert.equal(error.headers['retry-after'], '120');
        return true;
      });
      assert.equal((await recipient(r!.id)).status, 'queued', 'left to the worker holding it');
      assert.equal((await recipient(other!.id)).status, 'failed', 'the unclaimed one is cancelled');
      // The lease ran out (the worker died): the retry cancels it and finishes.
      const result = await erase('stuck@remote.example', 100, NOW + 120_001);
      assert.equal(result.cancelled, 1);
      const cancelled = await recipient(r!.id);
      assert.equal(cancelled.status, 'failed');
      assert.equal(cancelled.reason, 'erasure-requested');
      assert.equal(cancelled.address, '[erased]@remote.example');
      // A worker coming back late cannot record a delivery: its lease is gone.
      assert.deepEqual(await deliver('stuck-worker', mine[0]!, 'stuck@remote.example'), [false]);
      assert.equal((await recipient(r!.id)).status, 'failed');
    });
  });
}
