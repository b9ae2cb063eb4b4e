// The statements of an erasure (GDPR art. 17; decided in src/privacy/erasure.ts, recipient
// changes through src/recipients/erasure.ts): cancel what is still queued, anonymise what must
// stay (recipient rows and their attempts, so counts and the evidence of the other
// recipients stay right), delete what can go, keep a suppression as a keyed digest, and
// record the erasure without the address. Each function is one or a few statements; the
// caller runs them in one transaction.

import type { RecipientStatus } from '../vocabulary/recipient-statuses.ts';
import type { Db } from './database.ts';
import type { SuppressionsTable } from './inbound.table.ts';
import type { MessagesTable } from './messages.table.ts';
import type { ErasuresTable } from './privacy.table.ts';

/**
 * Makes open recipients final as `change` says, unless a worker holds a live lease on them
 * (it may be sending right now: the caller waits for it). Returns the ids changed.
 */
export async function cancelUnleasedRecipients(
  db: Db,
  ids: readonly string[],
  now: number,
  change: {
    from: readonly RecipientStatus[];
    status: RecipientStatus;
    reason: string;
    detail: string;
  },
): Promise<string[]> {
  const changed: string[] = [];
  for (let i = 0; i < ids.length; i += 500) {
    const rows = await db
      .updateTable('recipients')
      .set({
        status: change.status,
        reason: change.reason,
        detail: change.detail,
        lease_owner: null,
        lease_until: null,
        updated_at: now,
        final_at: now,
      })
      .where('id', 'in', ids.slice(i, i + 500))
      .where('status', 'in', [...change.from])
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
      .returning('id')
      .execute();
    for (const r of rows) changed.push(r.id);
  }
  return changed;
}

/** Rewrites an erased recipient's address and detail; only where it is in `finalStatuses`. */
export async function anonymiseRecipient(
  db: Db,
  id: string,
  finalStatuses: readonly RecipientStatus[],
  values: { address: string; detail: string | null; now: number },
): Promise<boolean> {
  const result = await db
    .updateTable('recipients')
    .set({ address: values.address, detail: values.detail, updated_at: values.now })
    .where('id', '=', id)
    .where('status', 'in', [...finalStatuses])
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Rewrites an attempt's reply and own evidence (the recipient's address taken out). */
export async function rewriteAttempt(
  db: Db,
  id: string,
  values: { reply: string | null; evidence_json: string },
): Promise<void> {
  await db.updateTable('attempts').set(values).where('id', '=', id).execute();
}

/** Rewrites what a message holds about the erased address: sender, subject, body, answer. */
export async function rewriteMessage(
  db: Db,
  id: string,
  values: Pick<
    MessagesTable,
    'sender' | 'subject_sealed' | 'body_sealed' | 'content_hash' | 'response_json'
  > &
    Partial<Pick<MessagesTable, 'message_id_header'>>,
): Promise<void> {
  await db.updateTable('messages').set(values).where('id', '=', id).execute();
}

export function deleteWebhookEvents(db: Db, ids: readonly string[]): Promise<number> {
  return deleteByIds(db, 'webhook_events', ids);
}

export function deleteInboundMessages(db: Db, ids: readonly string[]): Promise<number> {
  return deleteByIds(db, 'inbound_messages', ids);
}

export function deleteAccountNotices(db: Db, ids: readonly string[]): Promise<number> {
  return deleteByIds(db, 'account_notifications', ids);
}

/** Deletes the rows of `table` with these ids; returns how many went. */
async function deleteByIds(
  db: Db,
  table: 'webhook_events' | 'inbound_messages' | 'account_notifications',
  ids: readonly string[],
): Promise<number> {
  if (ids.length === 0) return 0;
  const result = await db
    .deleteFrom(table)
    .where('id', 'in', [...ids])
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/**
 * Replaces the account's clear suppression entry of an address by one under its keyed
 * digest (same reason and date; the detail, which may quote the address, and the link to
 * the recipient go). Returns whether a clear entry existed.
 */
export async function replaceSuppressionByDigest(
  db: Db,
  accountId: string,
  address: string,
  digest: string,
): Promise<boolean> {
  const clear = await db
    .selectFrom('suppressions')
    .selectAll()
    .where('account_id', '=', accountId)
    .where('address', '=', address)
    .executeTakeFirst();
  if (clear === undefined) return false;
  await db
    .deleteFrom('suppressions')
    .where('account_id', '=', accountId)
    .where('address', '=', address)
    .execute();
  const kept: SuppressionsTable = {
    account_id: accountId,
    address: digest,
    reason: clear.reason,
    detail: null,
    recipient_id: null,
    created_at: clear.created_at,
  };
  await db
    .insertInto('suppressions')
    .values(kept)
    .onConflict((oc) => oc.columns(['account_id', 'address']).doNothing())
    .execute();
  return true;
}

export async function insertErasure(db: Db, row: ErasuresTable): Promise<void> {
  await db.insertInto('erasures').values(row).execute();
}
