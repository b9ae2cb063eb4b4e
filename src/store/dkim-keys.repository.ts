// DKIM keys of accounts. The private key is stored only sealed with the master key.

import type { Kysely } from 'kysely';
import type { Database, DkimKey, DkimKeyStatus } from './schema.ts';

type Db = Kysely<Database>;

export async function insertDkimKeys(db: Db, keys: DkimKey[]): Promise<void> {
  if (keys.length === 0) return;
  await db.insertInto('dkim_keys').values(keys).execute();
}

/** The keys of an account in the given states: active before pending, oldest first, RSA before Ed25519. */
export async function listDkimKeys(
  db: Db,
  accountId: string,
  statuses: readonly DkimKeyStatus[] = ['active', 'pending'],
): Promise<DkimKey[]> {
  if (statuses.length === 0) return [];
  return db
    .selectFrom('dkim_keys')
    .selectAll()
    .where('account_id', '=', accountId)
    .where('status', 'in', [...statuses])
    .orderBy('status')
    .orderBy('created_at')
    .orderBy('algorithm', 'desc')
    .orderBy('selector')
    .execute();
}

export async function deleteDkimKeys(
  db: Db,
  accountId: string,
  status: DkimKeyStatus,
): Promise<void> {
  await db
    .deleteFrom('dkim_keys')
    .where('account_id', '=', accountId)
    .where('status', '=', status)
    .execute();
}

/** Rotation done: the pending keys sign from now on, the active ones are retired. */
export async function promotePendingDkimKeys(
  db: Db,
  accountId: string,
  now: number,
): Promise<void> {
  await db
    .updateTable('dkim_keys')
    .set({ status: 'retired', retired_at: now })
    .where('account_id', '=', accountId)
    .where('status', '=', 'active')
    .execute();
  await db
    .updateTable('dkim_keys')
    .set({ status: 'active', activated_at: now })
    .where('account_id', '=', accountId)
    .where('status', '=', 'pending')
    .execute();
}
