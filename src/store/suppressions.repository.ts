// The per-account suppression list: addresses that hard-bounced (or that the account owner
// added), which new messages skip at submission. Addresses are compared lower-cased.

import type { Selectable } from 'kysely';
import type { Db } from './database.ts';
import type { SuppressionReason, SuppressionsTable } from './inbound.table.ts';
import { prepareQuery } from './prepared-query.ts';

export type Suppression = Selectable<SuppressionsTable>;

// Keeps `IN (...)` lists well below SQLite's and PostgreSQL's parameter limits.
const LOOKUP_CHUNK = 500;

export interface NewSuppression {
  accountId: string;
  address: string;
  reason: SuppressionReason;
  detail: string | null;
  recipientId: string | null;
  at: number;
}

/** Adds the address unless it is listed already. Returns true when it was added. */
export async function insertSuppression(db: Db, entry: NewSuppression): Promise<boolean> {
  const result = await db
    .insertInto('suppressions')
    .values({
      account_id: entry.accountId,
      address: entry.address.toLowerCase(),
      reason: entry.reason,
      detail: entry.detail,
      recipient_id: entry.recipientId,
      created_at: entry.at,
    })
    .onConflict((oc) => oc.columns(['account_id', 'address']).doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0n) > 0;
}

export async function findSuppression(
  db: Db,
  accountId: string,
  address: string,
): Promise<Suppression | undefined> {
  return db
    .selectFrom('suppressions')
    .selectAll()
    .where('account_id', '=', accountId)
    .where('address', '=', address.toLowerCase())
    .executeTakeFirst();
}

/** One page in address order; `after` is the last address of the previous page. */
export async function listSuppressions(
  db: Db,
  accountId: string,
  options: { limit: number; after?: string | undefined },
): Promise<Suppression[]> {
  let query = db
    .selectFrom('suppressions')
    .selectAll()
    .where('account_id', '=', accountId)
    .orderBy('address')
    .limit(options.limit);
  if (options.after !== undefined) query = query.where('address', '>', options.after.toLowerCase());
  return query.execute();
}

export async function deleteSuppression(
  db: Db,
  accountId: string,
  address: string,
  /** The address's keyed digest (an entry kept after an erasure); removed too when given. */
  digest?: string,
): Promise<boolean> {
  const keys = digest === undefined ? [address.toLowerCase()] : [address.toLowerCase(), digest];
  const result = await db
    .deleteFrom('suppressions')
    .where('account_id', '=', accountId)
    .where('address', 'in', keys)
    .executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

const suppressedQuery = prepareQuery((db: Db, p: { accountId: string; address: string }) =>
  db
    .selectFrom('suppressions')
    .select('address')
    .where('account_id', '=', p.accountId)
    .where('address', '=', p.address),
);

const suppressedEitherQuery = prepareQuery(
  (db: Db, p: { accountId: string; address: string; digest: string }) =>
    db
      .selectFrom('suppressions')
      .select('address')
      .where('account_id', '=', p.accountId)
      .where('address', 'in', [p.address, p.digest]),
);

/**
 * The lower-cased addresses among `addresses` that are on the account's list: in clear, or,
 * when `digestOf` is given, as the keyed digest an erasure left (src/secrets/keyed-digest.ts).
 * Both keys are asked in the same query, so the digest costs no extra round trip.
 */
export async function suppressedAmong(
  db: Db,
  accountId: string,
  addresses: readonly string[],
  digestOf?: (address: string) => string,
): Promise<Set<string>> {
  const wanted = [...new Set(addresses.map((a) => a.toLowerCase()))];
  const found = new Set<string>();
  const byKey = new Map<string, string>();
  for (const address of wanted) {
    byKey.set(address, address);
    if (digestOf !== undefined) byKey.set(digestOf(address), address);
  }
  const add = (rows: Array<{ address: string }>) => {
    for (const row of rows) {
      const address = byKey.get(row.address);
      if (address !== undefined) found.add(address);
    }
  };
  // One address, as most submissions have: a prepared statement. The IN list's SQL
  // depends on its length, so longer lists are built.
  if (wanted.length === 1) {
    const address = wanted[0]!;
    const { rows } =
      digestOf === undefined
        ? await suppressedQuery(db, { accountId, address })
        : await suppressedEitherQuery(db, { accountId, address, digest: digestOf(address) });
    add(rows);
    return found;
  }
  const keys = [...byKey.keys()];
  for (let i = 0; i < keys.length; i += LOOKUP_CHUNK) {
    add(
      await db
        .selectFrom('suppressions')
        .select('address')
        .where('account_id', '=', accountId)
        .where('address', 'in', keys.slice(i, i + LOOKUP_CHUNK))
        .execute(),
    );
  }
  return found;
}
