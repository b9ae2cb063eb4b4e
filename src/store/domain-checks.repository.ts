// The verification schedule of each account's domain and the last result per DNS record.
// The worker finds due rows here, so the schedule survives restarts.

import type { Kysely } from 'kysely';
import type { Account, Database, DomainCheck } from './schema.ts';

type Db = Kysely<Database>;

export async function insertDomainCheck(db: Db, row: DomainCheck): Promise<void> {
  await db.insertInto('domain_checks').values(row).execute();
}

/** The schedule row of an account older than onboarding, unless another process made it first. */
export async function insertDomainCheckIfMissing(db: Db, row: DomainCheck): Promise<void> {
  await db
    .insertInto('domain_checks')
    .values(row)
    .onConflict((oc) => oc.column('account_id').doNothing())
    .execute();
}

export async function findDomainCheck(db: Db, accountId: string): Promise<DomainCheck | undefined> {
  return db
    .selectFrom('domain_checks')
    .selectAll()
    .where('account_id', '=', accountId)
    .executeTakeFirst();
}

export async function updateDomainCheck(
  db: Db,
  accountId: string,
  changes: Partial<Omit<DomainCheck, 'account_id'>>,
): Promise<void> {
  await db.updateTable('domain_checks').set(changes).where('account_id', '=', accountId).execute();
}

/** Accounts whose check is due, most overdue first; `failed` domains are not checked again. */
export async function listDueChecks(
  db: Db,
  now: number,
  limit: number,
): Promise<Array<{ account_id: string; next_check_at: number }>> {
  return db
    .selectFrom('domain_checks')
    .innerJoin('accounts', 'accounts.id', 'domain_checks.account_id')
    .select(['domain_checks.account_id', 'domain_checks.next_check_at'])
    .where('domain_checks.next_check_at', '<=', now)
    .where('accounts.state', '!=', 'failed')
    .orderBy('domain_checks.next_check_at')
    .limit(limit)
    .execute();
}

/**
 * Claims a due check for one worker: moves its next_check_at to `leaseUntil` only if nobody
 * else moved it first. Works the same on SQLite and PostgreSQL, with any number of workers.
 */
export async function claimDueCheck(
  db: Db,
  accountId: string,
  seenNextCheckAt: number,
  leaseUntil: number,
): Promise<boolean> {
  const result = await db
    .updateTable('domain_checks')
    .set({ next_check_at: leaseUntil })
    .where('account_id', '=', accountId)
    .where('next_check_at', '=', seenNextCheckAt)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** The account a due check belongs to (the worker works across tenants). */
export async function findAccountById(db: Db, accountId: string): Promise<Account | undefined> {
  return db.selectFrom('accounts').selectAll().where('id', '=', accountId).executeTakeFirst();
}
