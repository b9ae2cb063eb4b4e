// Accounts (sending domains). Every read and write is scoped to the owning client, so a
// tenant can never reach another tenant's account, not even by guessing a domain.

import type { Kysely } from 'kysely';
import type { PolicyLevel } from '../vocabulary/policy-levels.ts';
import { prepareQuery } from './prepared-query.ts';
import type { Account, AccountState, Database, NewAccount } from './schema.ts';

type Db = Kysely<Database>;

export async function insertAccount(db: Db, account: NewAccount): Promise<void> {
  await db.insertInto('accounts').values(account).execute();
}

const accountQuery = prepareQuery((db: Db, p: { clientId: string; domain: string }) =>
  db
    .selectFrom('accounts')
    .selectAll()
    .where('client_id', '=', p.clientId)
    .where('domain', '=', p.domain),
);

/** Asked by every POST /message, so prepared once (prepared-query.ts). */
export async function findAccount(
  db: Db,
  clientId: string,
  domain: string,
): Promise<Account | undefined> {
  const { rows } = await accountQuery(db, { clientId, domain });
  return rows[0];
}

export async function listAccounts(db: Db, clientId: string): Promise<Account[]> {
  return db
    .selectFrom('accounts')
    .selectAll()
    .where('client_id', '=', clientId)
    .orderBy('domain')
    .execute();
}

export async function deleteAccount(db: Db, clientId: string, domain: string): Promise<boolean> {
  const result = await db
    .deleteFrom('accounts')
    .where('client_id', '=', clientId)
    .where('domain', '=', domain)
    .executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/** The settings an account owner may change after creation. */
export interface AccountChanges {
  policy_level?: PolicyLevel;
  notification_email?: string;
}

/** Changes the caller's account; undefined when the caller has no account for the domain. */
export async function updateAccount(
  db: Db,
  clientId: string,
  domain: string,
  changes: AccountChanges,
  now: number,
): Promise<Account | undefined> {
  const result = await db
    .updateTable('accounts')
    .set({ ...changes, updated_at: now })
    .where('client_id', '=', clientId)
    .where('domain', '=', domain)
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) === 0) return undefined;
  return findAccount(db, clientId, domain);
}

/**
 * Moves the account from `from` to `to`. Returns false when its state was no longer `from`:
 * of two concurrent checks only the first makes the transition (and its notice).
 */
export async function changeAccountState(
  db: Db,
  accountId: string,
  from: AccountState,
  to: AccountState,
  now: number,
): Promise<boolean> {
  const changed = await db
    .updateTable('accounts')
    .set({ state: to, updated_at: now })
    .where('id', '=', accountId)
    .where('state', '=', from)
    .executeTakeFirst();
  return Number(changed.numUpdatedRows) === 1;
}
