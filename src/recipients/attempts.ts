// Attempts: a worker claims due recipients under a lease, tries each, and records how the
// attempt ended, with its evidence and its outbox event, in one transaction. A claim is a
// lease, not a lock held open: a worker that dies leaves its recipients claimable again when
// the lease runs out, or sooner when its heartbeat stops (src/delivery/liveness.ts takes its
// claims back here). Only queued and deferred recipients can be claimed (transitions.ts),
// and an outcome is only written while the worker still holds the lease, so a recipient that
// became final meanwhile (a bounce report) keeps its state.

import { recordEndedRecipients } from '../outbox/recipient-notices.ts';
import { recordRecipientEvents } from '../outbox/webhook-events.ts';
import type { Capabilities, Db } from '../store/database.ts';
import {
  type ClaimedRecipient,
  type CompletedMessage,
  claimDue,
  completeIfFinalMany,
  type Outcome,
  type OutcomeWrite,
  recordOutcomes,
  releaseLease,
  releaseLeasesNotHeld,
} from '../store/delivery.repository.ts';
import { takeBackAllBut, takeBackWorker } from '../store/workers.repository.ts';
import type { AuthMethod } from '../vocabulary/policy-levels.ts';
import type { RecipientReason } from '../vocabulary/reasons.ts';
import type { RecipientStatus } from '../vocabulary/recipient-statuses.ts';
import { type AttemptEvent, attemptStatus } from './transitions.ts';

export type { ClaimedRecipient, CompletedMessage, Outcome, OutcomeWrite };

/**
 * The due recipients, oldest due first, leased to `owner` for `leaseMs` (event `claimed`);
 * none of `skipDomains` (domains the worker already holds enough of).
 */
export function claimRecipients(
  store: { db: Db; capabilities: Capabilities },
  claim: {
    owner: string;
    now: number;
    limit: number;
    leaseMs: number;
    skipDomains?: readonly string[];
  },
): Promise<ClaimedRecipient[]> {
  return claimDue(
    store.db,
    store.capabilities,
    claim.owner,
    claim.now,
    claim.limit,
    claim.leaseMs,
    claim.skipDomains,
  );
}

/**
 * Gives back the recipients leased to `owner` that it does not hold (`heldIds`): what a claim
 * whose answer was lost committed. Returns how many.
 */
export function releaseLostClaims(
  db: Db,
  owner: string,
  heldIds: readonly string[],
): Promise<number> {
  return releaseLeasesNotHeld(db, owner, heldIds);
}

/** Gives claimed recipients back untried (shutdown before they were tried). */
export function releaseRecipients(db: Db, recipientIds: string[], owner: string): Promise<void> {
  return releaseLease(db, recipientIds, owner);
}

/**
 * How an attempt ended, as the outcome to record: the new state is the table's for the event.
 * `nextAttemptAt` only for `deferred`; `counted: false` for a recipient that was not tried at
 * all (the connection dropped first).
 */
export function attemptOutcome(
  event: AttemptEvent,
  outcome: {
    reason: RecipientReason | null;
    detail: string | null;
    nextAttemptAt?: number;
    counted?: boolean;
  },
): Outcome {
  return {
    status: attemptStatus(event),
    reason: outcome.reason,
    detail: outcome.detail,
    ...(outcome.nextAttemptAt === undefined ? {} : { nextAttemptAt: outcome.nextAttemptAt }),
    counted: outcome.counted ?? true,
  };
}

/** A claimed recipient and its outcome, as the worker hands it over. */
export interface AttemptWrite extends OutcomeWrite {
  recipient: ClaimedRecipient;
}

/** One attempt as it was committed, in the words metrics count it by. */
export interface RecordedAttempt {
  /** The recipient's new status. */
  status: RecipientStatus;
  reason: RecipientReason | null;
  /** When the recipient's message was accepted. */
  acceptedAt: number;
  /** How the server was authenticated, when a message was sent. */
  authentication: AuthMethod | null;
  /** The TLS version of the session used, when there was one. */
  tlsVersion: string | null;
}

/**
 * Told of the attempts of each commit, after it (src/metrics counts them). Recipients that
 * were not tried (`counted: false`) and outcomes whose lease was lost are not attempts here.
 */
export type AttemptObserver = (recorded: readonly RecordedAttempt[], at: number) => void;

/**
 * Several recipients' outcomes with their attempts (evidence) and outbox events in ONE
 * transaction (a group commit; see src/delivery/outcome-writer.ts). Only recipients whose
 * lease `owner` still holds change. Returns, per write, whether the lease was still held.
 */
export async function recordAttempts(
  db: Db,
  owner: string,
  now: number,
  writes: readonly AttemptWrite[],
  observe?: AttemptObserver,
): Promise<boolean[]> {
  const byId = new Map(writes.map((w) => [w.recipientId, w.recipient]));
  const kept = await recordOutcomes(db, owner, now, writes, async (trx, kept) => {
    await recordRecipientEvents(
      trx,
      kept.map(({ recipientId, outcome }) => {
        const r = byId.get(recipientId)!;
        return {
          accountId: r.accountId,
          messageId: r.messageId,
          recipientId,
          address: r.address,
          status: outcome.status,
          reason: outcome.reason,
          detail: outcome.detail,
          at: now,
        };
      }),
    );
    // Undelivered ones wait for the sender's notice (the digest, src/outbox/recipient-notices.ts).
    await recordEndedRecipients(
      trx,
      kept.map(({ recipientId, outcome }) => {
        const r = byId.get(recipientId)!;
        return {
          recipientId,
          messageId: r.messageId,
          messageKind: r.messageKind,
          status: outcome.status,
          at: now,
        };
      }),
    );
  });
  if (observe !== undefined) {
    const recorded: RecordedAttempt[] = [];
    writes.forEach((w, i) => {
      if (!kept[i] || !w.outcome.counted) return;
      recorded.push({
        status: w.outcome.status,
        reason: w.outcome.reason,
        acceptedAt: w.recipient.acceptedAt,
        authentication: w.attempt?.authentication ?? null,
        tlsVersion: w.attempt?.sharedEvidence?.tlsVersion ?? null,
      });
    });
    if (recorded.length > 0) observe(recorded, now);
  }
  return kept;
}

/**
 * Completes the messages (of a round) whose recipients are all final, in one transaction;
 * returns each completed message once, with whether a recipient ended undelivered (its
 * notice is then due at once, see src/outbox/recipient-notices.ts).
 */
export function completeMessages(
  db: Db,
  messageIds: readonly string[],
  now: number,
): Promise<CompletedMessage[]> {
  return completeIfFinalMany(db, messageIds, now);
}

/**
 * Takes back every claim of a worker judged stopped (src/delivery/liveness.ts) and removes
 * its row: the recipients keep their state and attempts and are claimable at once.
 */
export function takeBackClaims(db: Db, owner: string): Promise<number> {
  return takeBackWorker(db, owner);
}

/**
 * Takes back every claim but `owner`'s (SQLite, where one process uses the database: the
 * others' claims belong to processes that are gone).
 */
export function takeBackOtherClaims(db: Db, owner: string): Promise<number> {
  return takeBackAllBut(db, owner);
}
