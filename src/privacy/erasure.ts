// A data subject's erasure (GDPR art. 17): everything one account holds about one address is
// removed, or anonymised where a row must stay for the law or for the product to keep working
// (docs/privacy.md has the table by table account). In order:
//
// 1. Nothing is sent any more. Recipients of the address still waiting are cancelled, and so
//    are the waiting recipients of a message whose content names the address or whose sender
//    it is (that content may not go out after it was erased). A recipient a worker holds a
//    live lease on may be on the wire right now: cancelling it would not stop that attempt,
//    and its outcome would write the address back. So the erasure waits until the worker
//    has recorded its outcome (or its lease ran out), then erases that too. Pending webhook
//    events about the address are waited for the same way. A worker that died holding a lease
//    blocks the erasure until the lease ends (SECUREMAIL_LEASE_SECONDS): the API answers 409
//    `delivery_in_progress` with Retry-After after `maxWaitMs`; nothing already done is undone
//    and the retry finishes the job.
// 2. In one transaction: recipients and their attempts anonymised (src/recipients/erasure.ts),
//    messages' sender, subject, body, stored answer and content hash rewritten, webhook
//    events, received bounces and account notices about the address deleted, a suppression
//    entry replaced by its keyed digest, and the erasure recorded: when, by which client,
//    how many rows per table, never the address.

import { randomUUID } from 'node:crypto';
import { AppError } from '../errors.ts';
import {
  cancelForErasure,
  completeAfterCancel,
  erasedAddress,
  eraseMessageContent,
  eraseRecipient,
  scrubJsonText,
} from '../recipients/erasure.ts';
import { leasedOpenRecipients, leasedPendingEvents } from '../store/data-subject.repository.ts';
import { type Db, inTransaction } from '../store/database.ts';
import {
  deleteAccountNotices,
  deleteInboundMessages,
  deleteWebhookEvents,
  insertErasure,
  replaceSuppressionByDigest,
} from '../store/erasure.repository.ts';
import type { MessagesTable } from '../store/messages.table.ts';
import type { Account } from '../store/schema.ts';
import { OPEN_STATUSES, type RecipientStatus } from '../vocabulary/recipient-statuses.ts';
import { namesAddress, scrubberFor } from './address.ts';
import { findScope, type SubjectScope } from './scope.ts';

/** How long an API erasure waits for workers that hold a lease: a live one finishes in seconds. */
export const API_ERASURE_WAIT_MS = 20_000;
const POLL_MS = 200;

export interface ErasureDeps {
  db: Db;
  masterKey: Buffer;
  now: () => number;
  /** Waits between polls of the leases; real time by default (tests shorten it). */
  sleep?: (ms: number) => Promise<void>;
  /** How long to wait for leased recipients and events before answering 409. */
  maxWaitMs: number;
}

export interface ErasureRequest {
  account: Account;
  /** Canonical and lower-cased (address.ts). */
  address: string;
  /** Who asked: the API caller, or the account's client for the CLI. */
  clientId: string;
  via: 'api' | 'cli';
}

/** Rows removed or anonymised, per table. */
export type ErasureCounts = Record<
  | 'recipients'
  | 'attempts'
  | 'messages'
  | 'webhook_events'
  | 'inbound_messages'
  | 'account_notifications'
  | 'suppressions',
  number
>;

export interface ErasureResult {
  id: string;
  erased_at: number;
  /** Recipients that were still waiting and will now never be sent. */
  cancelled: number;
  counts: ErasureCounts;
  /** The address stays suppressed (as its keyed digest): the account will not mail it. */
  still_suppressed: boolean;
  /**
   * The address is the account's own notification address: that setting stays (the account
   * needs one) until it is changed with PATCH /account.
   */
  notification_address_kept: boolean;
}

export async function eraseDataSubject(
  deps: ErasureDeps,
  request: ErasureRequest,
): Promise<ErasureResult> {
  const sleep = deps.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)));
  const started = Date.now();
  let cancelled = 0;
  for (;;) {
    const round = await inTransaction(deps.db, (trx) =>
      eraseRound({ ...deps, db: trx }, request, cancelled),
    );
    if (round.done) return round.result;
    cancelled = round.cancelled;
    if (Date.now() - started >= deps.maxWaitMs) {
      const seconds = Math.max(1, Math.ceil((round.leaseUntil - deps.now()) / 1000));
      throw new AppError('delivery_in_progress', {
        message:
          'A message to or about this address is being delivered right now; nothing more will be sent. ' +
          `Ask again after ${seconds} s to finish the erasure.`,
        headers: { 'retry-after': String(seconds) },
      });
    }
    await sleep(POLL_MS);
  }
}

type Round =
  | { done: true; result: ErasureResult }
  | { done: false; cancelled: number; leaseUntil: number };

/** One try in one transaction: cancel what can be, then either erase all or say who to wait for. */
async function eraseRound(
  deps: ErasureDeps,
  request: ErasureRequest,
  cancelledBefore: number,
): Promise<Round> {
  const { db } = deps;
  const now = deps.now();
  const { account, address } = request;
  const scope = await findScope(deps, account.id, address);

  // Step 1: nothing more is sent.
  const stopping = recipientsToStop(scope);
  const cancelledIds = await cancelForErasure(db, stopping, now);
  const cancelled = cancelledBefore + cancelledIds.length;
  if (cancelledIds.length > 0) {
    await completeAfterCancel(db, [...new Set(scope.messages.map((m) => m.row.id))], now);
  }
  const leased = [
    ...(await leasedOpenRecipients(db, stopping, now)),
    ...(await leasedPendingEvents(
      db,
      scope.webhookEvents.map((e) => e.id),
      now,
    )),
  ];
  if (leased.length > 0) {
    return { done: false, cancelled, leaseUntil: Math.max(...leased.map((l) => l.lease_until)) };
  }

  // Step 2: erase. The scope is read again: cancelling changed the recipient rows.
  const fresh = cancelledIds.length > 0 ? await findScope(deps, account.id, address) : scope;
  const counts = await eraseScope(deps, fresh, address, now);
  const result: ErasureResult = {
    id: randomUUID(),
    erased_at: now,
    cancelled,
    counts,
    still_suppressed:
      fresh.suppressions.clear !== undefined || fresh.suppressions.digest !== undefined,
    notification_address_kept: account.notification_email.toLowerCase() === address,
  };
  await insertErasure(db, {
    id: result.id,
    account_id: account.id,
    client_id: request.clientId,
    requested_via: request.via,
    erased_at: now,
    counts_json: JSON.stringify({ ...counts, cancelled }),
  });
  return { done: true, result };
}

/**
 * The waiting recipients the erasure stops: the address's own, and every waiting recipient of
 * a message that names the address or comes from it (that content cannot go out any more).
 */
function recipientsToStop(scope: SubjectScope): string[] {
  const open = (status: RecipientStatus) => (OPEN_STATUSES as readonly string[]).includes(status);
  const ids = new Set(scope.recipients.filter((r) => open(r.status)).map((r) => r.id));
  for (const m of scope.messages) {
    if (!m.role.named && !m.role.sender) continue;
    for (const r of m.recipients) if (open(r.status)) ids.add(r.id);
  }
  return [...ids];
}

async function eraseScope(
  deps: ErasureDeps,
  scope: SubjectScope,
  address: string,
  now: number,
): Promise<ErasureCounts> {
  const { db } = deps;
  const scrub = scrubberFor(address);
  const counts: ErasureCounts = {
    recipients: 0,
    attempts: 0,
    messages: 0,
    webhook_events: 0,
    inbound_messages: 0,
    account_notifications: 0,
    suppressions: 0,
  };
  for (const r of scope.recipients) {
    const erased = await eraseRecipient(db, r, scrub, now);
    // Only a recipient a worker took between the two reads can still be open; the lease
    // check of this round found none, so this does not happen. Counted when it does not.
    if (erased === undefined) continue;
    counts.recipients++;
    counts.attempts += erased.attempts;
  }
  for (const m of scope.messages) {
    await eraseMessageContent(db, m.row.id, messageWithout(m.row, m, address, scrub));
    counts.messages++;
  }
  counts.webhook_events = await deleteWebhookEvents(
    db,
    scope.webhookEvents.map((e) => e.id),
  );
  counts.inbound_messages = await deleteInboundMessages(
    db,
    scope.inbound.map((i) => i.id),
  );
  counts.account_notifications = await deleteAccountNotices(
    db,
    scope.notices.map((n) => n.id),
  );
  if (
    await replaceSuppressionByDigest(db, scope.accountId, address, scope.suppressions.digestKey)
  ) {
    counts.suppressions = 1;
  }
  return counts;
}

/**
 * A message's row without the address: its sender if it was the address, its subject and body
 * when they name the address, come from it, or were only ever for it (every recipient is the
 * address); the stored 202 answer with the address taken out; and a content hash that can no
 * longer confirm a guess of who the message went to.
 */
function messageWithout(
  row: MessagesTable,
  scoped: SubjectScope['messages'][number],
  address: string,
  scrub: (text: string) => string,
): Parameters<typeof eraseMessageContent>[2] {
  const onlyForAddress = scoped.recipients.every((r) => r.address.toLowerCase() === address);
  const dropContent = scoped.role.named || scoped.role.sender || onlyForAddress;
  return {
    sender: row.sender.toLowerCase() === address ? erasedAddress(row.sender) : row.sender,
    subject_sealed: dropContent ? null : row.subject_sealed,
    body_sealed: dropContent ? null : row.body_sealed,
    content_hash: `erased:${row.id}`,
    response_json: scrubJsonText(row.response_json, scrub),
    ...(namesAddress(row.message_id_header, address)
      ? { message_id_header: `erased.${row.id}@erased.invalid` }
      : {}),
  };
}
