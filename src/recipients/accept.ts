// Accepting recipients: the first state of each (queued, or suppressed when the address is
// on the account's suppression list), written with their message in the caller's
// transaction, with the outbox events of those already final. Submission (POST /message)
// and the worker's notifications accept their recipients here.

import { randomUUIDv7 } from 'node:crypto';
import { recordRecipientEvents } from '../outbox/webhook-events.ts';
import type { Db } from '../store/database.ts';
import { insertMessageWithRecipients, submitSingle } from '../store/messages.repository.ts';
import type { MessagesTable, RecipientsTable } from '../store/messages.table.ts';
import { insertMessageOnce, setMessageComplete } from '../store/recipients.repository.ts';
import { nextStatus } from './transitions.ts';

export interface AcceptedMessage {
  message: MessagesTable;
  /** One row per recipient, made by newRecipientRow. */
  recipients: RecipientsTable[];
}

/**
 * Writes the message and its recipients in `trx`, the outbox events of the recipients that
 * are final already (suppressed), and completes the message when all of them are. Fails on
 * the unique (account, Message-ID) constraint for a repeated Message-ID, before anything
 * else is written.
 */
export async function acceptMessage(trx: Db, accepted: AcceptedMessage): Promise<void> {
  const { message, recipients } = accepted;
  await insertMessageWithRecipients(trx, message, recipients);
  const suppressed = recipients.filter((r) => r.status === 'suppressed');
  await recordRecipientEvents(
    trx,
    suppressed.map((row) => ({
      accountId: message.account_id,
      messageId: message.id,
      recipientId: row.id,
      address: row.address,
      status: row.status,
      reason: row.reason,
      detail: row.detail,
      at: message.created_at,
    })),
  );
  // Every recipient suppressed: the message is complete as it is accepted.
  if (suppressed.length === recipients.length) {
    await setMessageComplete(trx, message.id, message.created_at);
  }
}

/**
 * acceptMessage for one queued recipient together with the account's daily count, in ONE
 * statement (needs the store's `writableCtes`). Returns false when the day's limit is
 * reached; then nothing was written.
 */
export async function acceptSingle(
  db: Db,
  accepted: AcceptedMessage & { day: number; limit: number },
): Promise<boolean> {
  const only = accepted.recipients[0];
  if (accepted.recipients.length !== 1 || only === undefined || only.status !== 'queued') {
    throw new Error('acceptSingle takes exactly one queued recipient');
  }
  return submitSingle(db, {
    message: accepted.message,
    recipient: only,
    accountId: accepted.message.account_id,
    day: accepted.day,
    limit: accepted.limit,
  });
}

/**
 * A notification (a message of the worker's own) with its one recipient, unless the account
 * has one with this Message-ID already: calling twice queues it once. Returns whether it was
 * queued.
 */
export async function acceptNotification(
  db: Db,
  message: MessagesTable,
  to: string,
): Promise<boolean> {
  return insertMessageOnce(db, message, newRecipientRow(message.id, to, message.created_at));
}

/**
 * A recipient row as it is accepted: queued and due now, or already final as `suppressed`.
 * Submission, notifications and the benchmark all make their rows here.
 */
export function newRecipientRow(
  messageId: string,
  address: string,
  now: number,
  suppressedDetail?: string,
): RecipientsTable {
  const suppressed = suppressedDetail !== undefined;
  const status = nextStatus('new', suppressed ? 'suppressed' : 'accepted')!;
  return {
    // Row ids of the busy tables (messages, recipients, attempts, session evidence, webhook
    // events, inbound messages) are time-ordered UUIDs (RFC 9562 version 7): a new row's key
    // lands at the right edge of its index instead of on a random page, and so do the
    // indexes that refer to it (attempts by recipient). Random ids made each outcome commit
    // rewrite about 48 pages of 4 KB (199 KB for 6 outcomes). 74 bits stay random: a VERP
    // address (bounce+<recipient id>@...) is as hard to guess as before in practice.
    id: randomUUIDv7(),
    message_id: messageId,
    address,
    domain: address.slice(address.lastIndexOf('@') + 1).toLowerCase(),
    status,
    attempts: 0,
    next_attempt_at: now,
    lease_owner: null,
    lease_until: null,
    reason: suppressed ? 'suppressed' : null,
    detail: suppressedDetail ?? null,
    created_at: now,
    updated_at: now,
    final_at: suppressed ? now : null,
  };
}
