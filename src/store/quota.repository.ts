// Request counting per client and fixed window. One atomic statement per request, so the
// count stays right with any number of API processes on one PostgreSQL.

import { type Kysely, sql } from 'kysely';
import { prepareQuery } from './prepared-query.ts';
import type { Database } from './schema.ts';

export interface QuotaCount {
  /** Requests counted in this window, including this one when it was allowed. */
  used: number;
  allowed: boolean;
}

const takeQuotaQuery = prepareQuery(
  (db: Kysely<Database>, p: { clientId: string; windowStart: number; limit: number }) =>
    db
      .insertInto('quota_usage')
      .values({ client_id: p.clientId, window_start: p.windowStart, used: 1 })
      .onConflict((oc) =>
        oc
          .columns(['client_id', 'window_start'])
          .doUpdateSet({ used: sql<number>`quota_usage.used + 1` })
          .where('quota_usage.used', '<', p.limit),
      )
      .returning('used'),
);

/**
 * Counts one request unless the window is already full. The conditional upsert both reads
 * and increments in one statement: no read-then-write race between processes. Run on every
 * API request, so prepared once (prepared-query.ts).
 */
export async function takeQuota(
  db: Kysely<Database>,
  clientId: string,
  windowStart: number,
  limit: number,
): Promise<QuotaCount> {
  const { rows } = await takeQuotaQuery(db, { clientId, windowStart, limit });
  const taken = rows[0];
  if (taken !== undefined) return { used: Number(taken.used), allowed: true };
  return { used: await readQuota(db, clientId, windowStart), allowed: false };
}

export async function readQuota(
  db: Kysely<Database>,
  clientId: string,
  windowStart: number,
): Promise<number> {
  const row = await db
    .selectFrom('quota_usage')
    .select('used')
    .where('client_id', '=', clientId)
    .where('window_start', '=', windowStart)
    .executeTakeFirst();
  return Number(row?.used ?? 0);
}

/** Drops counters of windows that ended; they are never read again. */
export async function deleteQuotaBefore(
  db: Kysely<Database>,
  windowStart: number,
): Promise<number> {
  const result = await db
    .deleteFrom('quota_usage')
    .where('window_start', '<', windowStart)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
