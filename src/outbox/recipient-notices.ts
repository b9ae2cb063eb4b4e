// The notice digest's outbox: a recipient of an API message that ends undelivered
// (`refused_insecure`, `bounced`, `failed`, `expired`) is appended here in the transaction
// that ends it, by src/recipients (attempt outcomes, delivery reports). The worker then mails
// the account ONE notice per message per digest window (src/notify/notifications.ts):
//
// - a message's notice is due a window (SECUREMAIL_NOTIFY_DIGEST_SECONDS) after its oldest
//   recipient still to be reported ended, so one DNS failure does not hold back sixteen
//   refusals for the whole retry window, and a burst of refusals makes one notice;
// - at once when the message became complete together with those recipients: nothing can
//   follow but a late bounce, so there is nothing to wait for;
// - never within a window of the message's previous notice.
//
// A notice is claimed with one conditional statement in the transaction that takes its
// recipients and queues the mail (takeNotice), so with any number of worker processes a
// notice is sent once, and a process that dies before its commit leaves it due.

import { type Db, inTransaction } from '../store/database.ts';
import {
  claimNotice,
  insertPendingNotices,
  listDueNotices,
  takePendingNotices,
} from '../store/notices.repository.ts';
import { type RecipientStatus, UNDELIVERED_STATUSES } from '../vocabulary/recipient-statuses.ts';

export interface EndedRecipient {
  recipientId: string;
  messageId: string;
  /** Only API messages are reported; our own notifications never are (no loops). */
  messageKind: string;
  status: RecipientStatus;
  at: number;
}

/** Appends the recipients that ended undelivered; the others are ignored. */
export async function recordEndedRecipients(
  trx: Db,
  ended: readonly EndedRecipient[],
): Promise<void> {
  const rows = ended
    .filter(
      (e) =>
        e.messageKind === 'message' &&
        (UNDELIVERED_STATUSES as readonly RecipientStatus[]).includes(e.status),
    )
    .map((e) => ({ recipient_id: e.recipientId, message_id: e.messageId, ended_at: e.at }));
  if (rows.length > 0) await insertPendingNotices(trx, rows);
}

export interface DueNotice {
  messageId: string;
  /** Notices the message had when this was read; the claim holds only if still so. */
  noticeCount: number;
}

/** Messages whose notice is due now (see the rule above), oldest first. */
export function dueNotices(
  db: Db,
  p: { now: number; windowMs: number; limit?: number; messageIds?: readonly string[] },
): Promise<DueNotice[]> {
  return listDueNotices(db, {
    now: p.now,
    windowMs: p.windowMs,
    limit: p.limit ?? 100,
    ...(p.messageIds === undefined ? {} : { messageIds: p.messageIds }),
  });
}

export interface TakenNotice {
  /** 1 for the message's first notice, 2 for the next, ... */
  sequence: number;
  /** The recipients this notice reports. */
  recipientIds: string[];
}

/**
 * Claims the message's notice, takes its pending recipients and runs `queue` (which queues
 * the mail), all in ONE transaction. False when another process claimed it first, or there
 * was nothing left to report; then `queue` did not run.
 */
export function takeNotice(
  db: Db,
  due: DueNotice,
  now: number,
  queue: (trx: Db, taken: TakenNotice) => Promise<void>,
): Promise<boolean> {
  return inTransaction(db, async (trx) => {
    if (!(await claimNotice(trx, due.messageId, due.noticeCount, now))) return false;
    const recipientIds = await takePendingNotices(trx, due.messageId);
    // Nothing left (taken meanwhile): undo the claim, or the next notice would wait a window.
    if (recipientIds.length === 0) throw new NothingToReport();
    await queue(trx, { sequence: due.noticeCount + 1, recipientIds });
    return true;
  }).catch((error: unknown) => {
    if (error instanceof NothingToReport) return false;
    throw error;
  });
}

class NothingToReport extends Error {}
