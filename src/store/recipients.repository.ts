// Recipient and message rows changed outside a delivery attempt: a delivery report from the
// bounce MX, a message complete as it is accepted, a notification queued by the worker. Which
// change is allowed when is decided in src/recipients (transitions.ts); these statements only
// carry it out.

import type { RecipientStatus } from '../vocabulary/recipient-statuses.ts';
import type { Db } from './database.ts';
import type { MessagesTable, RecipientsTable } from './messages.table.ts';

/** A recipient a delivery report names, with what deciding about the report needs. */
export interface ReportedRecipient {
  id: string;
  address: string;
  status: RecipientStatus;
  messageId: string;
  accountId: string;
  kind: MessagesTable['kind'];
}

export async function findReportedRecipient(
  db: Db,
  recipientId: string,
): Promise<ReportedRecipient | undefined> {
  const row = await db
    .selectFrom('recipients')
    .innerJoin('messages', 'messages.id', 'recipients.message_id')
    .select([
      'recipients.id',
      'recipients.address',
      'recipients.status',
      'recipients.message_id',
      'messages.account_id',
      'messages.kind',
    ])
    .where('recipients.id', '=', recipientId)
    .executeTakeFirst();
  return row === undefined
    ? undefined
    : {
        id: row.id,
        address: row.address,
        status: row.status,
        messageId: row.message_id,
        accountId: row.account_id,
        kind: row.kind,
      };
}

/** Makes a recipient final after a report; a worker still holding its lease loses it. */
export async function setFinalAfterReport(
  db: Db,
  recipientId: string,
  change: { status: RecipientStatus; reason: string; detail: string; at: number },
): Promise<void> {
  await db
    .updateTable('recipients')
    .set({
      status: change.status,
      reason: change.reason,
      detail: change.detail,
      // A worker still holding the lease loses it, so it cannot overwrite the report.
      lease_owner: null,
      lease_until: null,
      updated_at: change.at,
      final_at: change.at,
    })
    .where('id', '=', recipientId)
    .execute();
}

/** Only the detail of a recipient changes (a delay was reported while we still retry). */
export async function setRecipientDetail(
  db: Db,
  recipientId: string,
  detail: string,
  at: number,
): Promise<void> {
  await db
    .updateTable('recipients')
    .set({ detail, updated_at: at })
    .where('id', '=', recipientId)
    .execute();
}

/** Marks a message complete unconditionally (every recipient was final as it was accepted). */
export async function setMessageComplete(db: Db, messageId: string, now: number): Promise<void> {
  await db.updateTable('messages').set({ completed_at: now }).where('id', '=', messageId).execute();
}

export async function findMessageById(db: Db, id: string): Promise<MessagesTable | undefined> {
  return db.selectFrom('messages').selectAll().where('id', '=', id).executeTakeFirst();
}

/** The message's recipients in `statuses`, by address; with `recipientId`, only that one. */
export async function listRecipientsIn(
  db: Db,
  messageId: string,
  statuses: readonly RecipientStatus[],
  recipientId?: string,
): Promise<RecipientsTable[]> {
  let query = db
    .selectFrom('recipients')
    .selectAll()
    .where('message_id', '=', messageId)
    .where('status', 'in', statuses)
    .orderBy('address');
  if (recipientId !== undefined) query = query.where('id', '=', recipientId);
  return query.execute();
}

/**
 * A message and its one recipient, unless the account has a message with this Message-ID
 * already (the unique (account, Message-ID) makes a second call a no-op). Returns whether
 * they were inserted.
 */
export async function insertMessageOnce(
  db: Db,
  message: MessagesTable,
  recipient: RecipientsTable,
): Promise<boolean> {
  // Inside the caller's transaction when given one (a notice claimed in the same commit).
  const run = <T>(work: (trx: Db) => Promise<T>): Promise<T> =>
    db.isTransaction ? work(db) : db.transaction().execute(work);
  return run(async (trx) => {
    const inserted = await trx
      .insertInto('messages')
      .values(message)
      .onConflict((oc) => oc.columns(['account_id', 'message_id_header']).doNothing())
      .returning('id')
      .executeTakeFirst();
    if (inserted === undefined) return false;
    await trx.insertInto('recipients').values(recipient).execute();
    return true;
  });
}
