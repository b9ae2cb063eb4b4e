// The delivery queue seen from outside: how many recipients wait, since when, for which
// destinations. `queueDepth` is what /metrics asks on every scrape and reads the partial
// index `recipients_due` only; `queueSummary` is what `securemail queue` shows and reads the
// open rows themselves.
//
// Measured on SQLite with 300,000 open recipients among 1,000,000 (node:sqlite, in memory):
// counting them through the index 7.7 ms, the due ones 4.9 ms, the oldest due 0.1 ms;
// counting them per status 82 ms, because the status is not in the index and every row is
// looked up. SQLite runs on the event loop, so per-status counts are not taken on a scrape.

import { sql } from 'kysely';
import type { Db } from './database.ts';

/**
 * Recipients still waiting: queued or deferred. Literals, not parameters, so that SQLite
 * sees the partial index's own condition (see dueRecipientsQuery).
 */
function openRecipients(db: Db) {
  return db
    .selectFrom('recipients')
    .where(sql<boolean>`status in (${sql.lit('queued')}, ${sql.lit('deferred')})`);
}

/** Open recipients whose `column` compares so with `value` (the due ones, the leased ones). */
async function countOpen(
  db: Db,
  column: 'next_attempt_at' | 'lease_until',
  op: '<=' | '>',
  value: number,
): Promise<number> {
  const row = await openRecipients(db)
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where(column, op, value)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export interface QueueDepth {
  /** Queued or deferred recipients. */
  open: number;
  /** Of those, the ones whose (next) attempt is due: waiting for a worker, or being tried. */
  due: number;
  /** The earliest due time among open recipients; null when none is open. */
  oldestDueAt: number | null;
}

/** Index-only counts, cheap enough for every scrape. */
export async function queueDepth(db: Db, now: number): Promise<QueueDepth> {
  const open = await openRecipients(db)
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .executeTakeFirstOrThrow();
  const due = await countOpen(db, 'next_attempt_at', '<=', now);
  const oldest = await openRecipients(db)
    .select((eb) => eb.fn.min<number | string | null>('next_attempt_at').as('at'))
    .executeTakeFirst();
  return {
    open: Number(open.n),
    due,
    oldestDueAt: oldest?.at == null ? null : Number(oldest.at),
  };
}

export interface QueueSummary {
  queued: number;
  deferred: number;
  /** Open recipients a worker holds a live lease on: being tried now. */
  inFlight: number;
  /** Open recipients whose (next) attempt is due: waiting for a worker, or being tried. */
  due: number;
  /** The deferred recipient accepted longest ago. */
  oldestDeferred: {
    recipientId: string;
    messageId: string;
    domain: string;
    acceptedAt: number;
    attempts: number;
    reason: string | null;
    nextAttemptAt: number;
  } | null;
  /** The next retry time that has not come yet (due ones are counted in `due`). */
  nextAttemptAt: number | null;
  destinations: QueueDestination[];
  /** How many destinations there are in all (the list holds the largest `limit`). */
  destinationCount: number;
}

export interface QueueDestination {
  domain: string;
  queued: number;
  deferred: number;
  oldestAcceptedAt: number;
  /** The earliest next attempt of its recipients; at or before now: due. */
  nextAttemptAt: number;
  /** The reason most of its deferred recipients carry. */
  reason: string | null;
}

const toNumber = (value: number | string | null | undefined): number | null =>
  value == null ? null : Number(value);

/** Everything `securemail queue` shows; reads every open row (not for scrapes). */
export async function queueSummary(db: Db, now: number, limit: number): Promise<QueueSummary> {
  const statuses = await openRecipients(db)
    .select(['status', (eb) => eb.fn.countAll<number | string>().as('n')])
    .groupBy('status')
    .execute();
  const inFlight = await countOpen(db, 'lease_until', '>', now);
  const due = await countOpen(db, 'next_attempt_at', '<=', now);
  const oldest = await openRecipients(db)
    .select(['id', 'message_id', 'domain', 'created_at', 'attempts', 'reason', 'next_attempt_at'])
    .where('status', '=', 'deferred')
    .orderBy('created_at')
    .orderBy('id')
    .limit(1)
    .executeTakeFirst();
  const next = await openRecipients(db)
    .select((eb) => eb.fn.min<number | string | null>('next_attempt_at').as('at'))
    .where('next_attempt_at', '>', now)
    .executeTakeFirst();

  const { destinations, destinationCount } = await openDestinations(db, limit);

  const count = (status: string) => Number(statuses.find((s) => s.status === status)?.n ?? 0);
  return {
    queued: count('queued'),
    deferred: count('deferred'),
    inFlight,
    due,
    oldestDeferred:
      oldest === undefined
        ? null
        : {
            recipientId: oldest.id,
            messageId: oldest.message_id,
            domain: oldest.domain,
            acceptedAt: oldest.created_at,
            attempts: oldest.attempts,
            reason: oldest.reason,
            nextAttemptAt: oldest.next_attempt_at,
          },
    nextAttemptAt: toNumber(next?.at),
    destinations,
    destinationCount,
  };
}

/** The destinations with the most open recipients (at most `limit`), and how many there are. */
async function openDestinations(
  db: Db,
  limit: number,
): Promise<{ destinations: QueueDestination[]; destinationCount: number }> {
  const perDomain = await openRecipients(db)
    .select((eb) => [
      'domain',
      eb.fn.countAll<number | string>().as('n'),
      eb.fn
        .sum<number | string>(eb.case().when('status', '=', 'deferred').then(1).else(0).end())
        .as('deferred'),
      eb.fn.min<number | string>('created_at').as('oldest'),
      eb.fn.min<number | string>('next_attempt_at').as('next'),
    ])
    .groupBy('domain')
    .execute();
  perDomain.sort((a, b) => Number(b.n) - Number(a.n) || a.domain.localeCompare(b.domain));
  const shown = perDomain.slice(0, limit);

  const reasons = await mostDeferredReasons(
    db,
    shown.map((d) => d.domain),
  );
  return {
    destinations: shown.map((d) => ({
      domain: d.domain,
      queued: Number(d.n) - Number(d.deferred),
      deferred: Number(d.deferred),
      oldestAcceptedAt: Number(d.oldest),
      nextAttemptAt: Number(d.next),
      reason: reasons.get(d.domain)?.reason ?? null,
    })),
    destinationCount: perDomain.length,
  };
}

/** Per domain, the reason most of its deferred recipients carry. */
async function mostDeferredReasons(
  db: Db,
  domains: string[],
): Promise<Map<string, { reason: string | null; n: number }>> {
  const reasons = new Map<string, { reason: string | null; n: number }>();
  if (domains.length === 0) return reasons;
  const rows = await openRecipients(db)
    .select(['domain', 'reason', (eb) => eb.fn.countAll<number | string>().as('n')])
    .where('status', '=', 'deferred')
    .where('domain', 'in', domains)
    .groupBy(['domain', 'reason'])
    .execute();
  for (const row of rows) {
    const best = reasons.get(row.domain);
    if (best === undefined || Number(row.n) > best.n)
      reasons.set(row.domain, { reason: row.reason, n: Number(row.n) });
  }
  return reasons;
}
