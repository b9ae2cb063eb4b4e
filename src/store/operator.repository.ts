// The operator's view of the data, for the `securemail` commands (accounts, messages,
// suppressions): every tenant at once, each row with the account and client it belongs to.
// Read-only. The API's repositories are scoped to one client on purpose; these are not, and
// only the CLI (run on the machine, with the database's credentials) calls them.

import type { RecipientStatus } from '../vocabulary/recipient-statuses.ts';
import type { Db } from './database.ts';
import type { SuppressionReason } from './inbound.table.ts';
import { hasRecipientIn } from './messages.repository.ts';
import type { MessagesTable } from './messages.table.ts';
import type { Account, AccountState, VerificationOutcome } from './schema.ts';

export interface OperatorAccount extends Account {
  client_name: string;
  last_checked_at: number | null;
  last_outcome: VerificationOutcome | null;
  next_check_at: number | null;
}

function accountsWithClients(db: Db) {
  return db
    .selectFrom('accounts')
    .innerJoin('clients', 'clients.client_id', 'accounts.client_id')
    .leftJoin('domain_checks', 'domain_checks.account_id', 'accounts.id')
    .selectAll('accounts')
    .select([
      'clients.name as client_name',
      'domain_checks.last_checked_at',
      'domain_checks.last_outcome',
      'domain_checks.next_check_at',
    ]);
}

/** Every account, by domain then client; optionally of one client or in one state. */
export async function listAllAccounts(
  db: Db,
  filter: { clientId?: string | undefined; state?: AccountState | undefined } = {},
): Promise<OperatorAccount[]> {
  let query = accountsWithClients(db).orderBy('accounts.domain').orderBy('accounts.client_id');
  if (filter.clientId !== undefined)
    query = query.where('accounts.client_id', '=', filter.clientId);
  if (filter.state !== undefined) query = query.where('accounts.state', '=', filter.state);
  return query.execute();
}

/**
 * The accounts with this id, or for this domain: two tenants may claim one domain (only one
 * can prove it), so a domain can name several.
 */
export async function findAccountsFor(db: Db, domainOrId: string): Promise<OperatorAccount[]> {
  return accountsWithClients(db)
    .where((eb) =>
      eb.or([eb('accounts.id', '=', domainOrId), eb('accounts.domain', '=', domainOrId)]),
    )
    .orderBy('accounts.client_id')
    .execute();
}

export interface OperatorMessage extends MessagesTable {
  account_domain: string;
  client_name: string;
}

export interface OperatorMessageFilter {
  /** A recipient status: messages with at least one recipient in it. */
  status?: RecipientStatus | undefined;
  /** The sending domain. */
  domain?: string | undefined;
  clientId?: string | undefined;
  kind?: MessagesTable['kind'] | undefined;
  since?: number | undefined;
  limit: number;
}

function messagesWithAccounts(db: Db) {
  return db
    .selectFrom('messages')
    .innerJoin('accounts', 'accounts.id', 'messages.account_id')
    .innerJoin('clients', 'clients.client_id', 'messages.client_id')
    .selectAll('messages')
    .select(['accounts.domain as account_domain', 'clients.name as client_name']);
}

/**
 * Newest first. With --client the (client_id, created_at) index serves it; across every
 * client the newest rows are found by sorting (no index on created_at alone), which an
 * operator's occasional look can afford and the API's every request could not.
 */
export async function listAllMessages(
  db: Db,
  filter: OperatorMessageFilter,
): Promise<OperatorMessage[]> {
  let query = messagesWithAccounts(db);
  if (filter.clientId !== undefined)
    query = query.where('messages.client_id', '=', filter.clientId);
  if (filter.kind !== undefined) query = query.where('messages.kind', '=', filter.kind);
  if (filter.since !== undefined) query = query.where('messages.created_at', '>=', filter.since);
  if (filter.domain !== undefined) query = query.where('accounts.domain', '=', filter.domain);
  if (filter.status !== undefined) query = query.where(hasRecipientIn(filter.status));
  return query
    .orderBy('messages.created_at', 'desc')
    .orderBy('messages.id', 'desc')
    .limit(filter.limit)
    .execute();
}

export async function findAnyMessage(db: Db, id: string): Promise<OperatorMessage | undefined> {
  return messagesWithAccounts(db).where('messages.id', '=', id).executeTakeFirst();
}

export interface OperatorSuppression {
  account_id: string;
  account_domain: string;
  client_id: string;
  client_name: string;
  address: string;
  reason: SuppressionReason;
  detail: string | null;
  recipient_id: string | null;
  created_at: number;
}

/** Suppressed addresses by domain, client and address; optionally of one domain or client. */
export async function listAllSuppressions(
  db: Db,
  filter: { domain?: string | undefined; clientId?: string | undefined; limit: number },
): Promise<OperatorSuppression[]> {
  let query = db
    .selectFrom('suppressions')
    .innerJoin('accounts', 'accounts.id', 'suppressions.account_id')
    .innerJoin('clients', 'clients.client_id', 'accounts.client_id')
    .select([
      'suppressions.account_id',
      'accounts.domain as account_domain',
      'accounts.client_id',
      'clients.name as client_name',
      'suppressions.address',
      'suppressions.reason',
      'suppressions.detail',
      'suppressions.recipient_id',
      'suppressions.created_at',
    ])
    .orderBy('accounts.domain')
    .orderBy('accounts.client_id')
    .orderBy('suppressions.address')
    .limit(filter.limit);
  if (filter.domain !== undefined) query = query.where('accounts.domain', '=', filter.domain);
  if (filter.clientId !== undefined)
    query = query.where('accounts.client_id', '=', filter.clientId);
  return query.execute();
}

/** Suppressed addresses per account, for the accounts list. */
export async function countSuppressions(db: Db): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom('suppressions')
    .select(['account_id', (eb) => eb.fn.countAll<number | string>().as('n')])
    .groupBy('account_id')
    .execute();
  return new Map(rows.map((r) => [r.account_id, Number(r.n)]));
}
