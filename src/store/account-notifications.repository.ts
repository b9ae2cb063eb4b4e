// Notices to an account's address (e.g. its domain became unverified). The worker turns
// each into a queued notification message and sets sent_at (see queueAccountNotices).

import type { Kysely } from 'kysely';
import type { AccountNotification, Database } from './schema.ts';

type Db = Kysely<Database>;

export async function insertNotification(db: Db, row: AccountNotification): Promise<void> {
  await db.insertInto('account_notifications').values(row).execute();
}

export async function listUnsentNotifications(db: Db, limit = 100): Promise<AccountNotification[]> {
  return db
    .selectFrom('account_notifications')
    .selectAll()
    .where('sent_at', 'is', null)
    .orderBy('created_at')
    .limit(limit)
    .execute();
}

/** Every notice of the account, oldest first (a few per month at most). */
export async function listNotifications(db: Db, accountId: string): Promise<AccountNotification[]> {
  return db
    .selectFrom('account_notifications')
    .selectAll()
    .where('account_id', '=', accountId)
    .orderBy('created_at')
    .execute();
}

export async function markNotificationSent(db: Db, id: string, now: number): Promise<void> {
  await db
    .updateTable('account_notifications')
    .set({ sent_at: now })
    .where('id', '=', id)
    .execute();
}
