// Aggregates for the overview (GET /stats): what happened to a tenant's mail per day, how
// delivered mail was authenticated, and why recipients were refused. Read-only.
//
// Every query starts from the tenant's messages by (client_id, created_at), the index the
// message list uses: an attempt in [from, to) belongs to a message accepted at most the
// retry window (plus a margin for late bounces) before `from`, so the caller passes that
// earlier bound and no query scans other tenants' rows.

import { type Kysely, sql } from 'kysely';
import { joinEvidence } from './messages.table.ts';
import type { Database } from './schema.ts';

type Db = Kysely<Database>;

export const DAY_MS = 86_400_000;

export interface OverviewScope {
  clientId: string;
  /** Only this sending domain's messages, when given. */
  accountId?: string | undefined;
  /** Attempts from here (inclusive) ... */
  from: number;
  /** ... to here (exclusive). */
  to: number;
  /** The earliest acceptance time a message with an attempt in [from, to) can have. */
  acceptedSince: number;
}

function scopedMessages(db: Db, scope: OverviewScope) {
  let query = db
    .selectFrom('messages')
    .innerJoin('recipients', 'recipients.message_id', 'messages.id')
    .where('messages.client_id', '=', scope.clientId)
    .where('messages.kind', '=', 'message')
    .where('messages.created_at', '>=', scope.acceptedSince)
    .where('messages.created_at', '<', scope.to);
  if (scope.accountId !== undefined)
    query = query.where('messages.account_id', '=', scope.accountId);
  return query;
}

function scopedAttempts(db: Db, scope: OverviewScope) {
  return scopedMessages(db, scope)
    .innerJoin('attempts', 'attempts.recipient_id', 'recipients.id')
    .where('attempts.started_at', '>=', scope.from)
    .where('attempts.started_at', '<', scope.to);
}

/** Attempts per UTC day (days since the epoch) and verdict. */
export async function attemptsPerDay(
  db: Db,
  scope: OverviewScope,
): Promise<Array<{ day: number; verdict: string; count: number }>> {
  const day = sql<number | string>`attempts.started_at / ${sql.lit(DAY_MS)}`;
  const rows = await scopedAttempts(db, scope)
    .select([day.as('day'), 'attempts.verdict', (eb) => eb.fn.countAll<number | string>().as('n')])
    .groupBy([day, 'attempts.verdict'])
    .execute();
  return rows.map((r) => ({ day: Number(r.day), verdict: r.verdict, count: Number(r.n) }));
}

/**
 * Recipients that bounced after delivery (a DSN came back to the bounce MX), per UTC day of
 * the bounce: they have no attempt of their own.
 */
export async function laterBouncesPerDay(
  db: Db,
  scope: OverviewScope,
  reason: string,
): Promise<Array<{ day: number; count: number }>> {
  const day = sql<number | string>`recipients.final_at / ${sql.lit(DAY_MS)}`;
  const rows = await scopedMessages(db, scope)
    .where('recipients.status', '=', 'bounced')
    .where('recipients.reason', '=', reason)
    .where('recipients.final_at', '>=', scope.from)
    .where('recipients.final_at', '<', scope.to)
    .select([day.as('day'), (eb) => eb.fn.countAll<number | string>().as('n')])
    .groupBy(day)
    .execute();
  return rows.map((r) => ({ day: Number(r.day), count: Number(r.n) }));
}

/**
 * Delivered attempts grouped by the session that carried them, each group with one attempt's
 * whole evidence: the authentication method and TLS parameters are the session's, so one
 * record per session stands for all its attempts (a bulk send of 10,000 over one connection
 * reads one evidence record, not 10,000). Older attempts without session evidence are their
 * own group.
 */
export async function deliveredSessions(
  db: Db,
  scope: OverviewScope,
): Promise<Array<{ evidenceJson: string; count: number }>> {
  const groups = await scopedAttempts(db, scope)
    .where('attempts.verdict', '=', 'deliver')
    .where('attempts.session_evidence_id', 'is not', null)
    .select([
      'attempts.session_evidence_id',
      (eb) => eb.fn.max('attempts.evidence_json').as('own'),
      (eb) => eb.fn.countAll<number | string>().as('n'),
    ])
    .groupBy('attempts.session_evidence_id')
    .execute();
  const shared = new Map<string, string>();
  const ids = groups.map((g) => g.session_evidence_id!);
  for (let i = 0; i < ids.length; i += 500) {
    const rows = await db
      .selectFrom('session_evidence')
      .select(['id', 'evidence_json'])
      .where('id', 'in', ids.slice(i, i + 500))
      .execute();
    for (const row of rows) shared.set(row.id, row.evidence_json);
  }
  const legacy = await scopedAttempts(db, scope)
    .where('attempts.verdict', '=', 'deliver')
    .where('attempts.session_evidence_id', 'is', null)
    .select('attempts.evidence_json')
    .execute();
  return [
    ...groups.map((g) => ({
      evidenceJson: joinEvidence(g.own, shared.get(g.session_evidence_id!)),
      count: Number(g.n),
    })),
    ...legacy.map((r) => ({ evidenceJson: r.evidence_json, count: 1 })),
  ];
}

/** Refused attempts per reason and recipient domain. */
export async function refusalsByReason(
  db: Db,
  scope: OverviewScope,
): Promise<Array<{ reason: string; domain: string; count: number }>> {
  const rows = await scopedAttempts(db, scope)
    .where('attempts.verdict', '=', 'refuse')
    .select([
      'attempts.reason',
      'recipients.domain',
      (eb) => eb.fn.countAll<number | string>().as('n'),
    ])
    .groupBy(['attempts.reason', 'recipients.domain'])
    .execute();
  return rows.map((r) => ({
    reason: r.reason ?? 'unknown',
    domain: r.domain,
    count: Number(r.n),
  }));
}

/** Recipients of the messages accepted in [from, to), by their current status. */
export async function recipientsByStatus(
  db: Db,
  scope: OverviewScope,
): Promise<Array<{ status: string; count: number }>> {
  const rows = await scopedMessages(db, { ...scope, acceptedSince: scope.from })
    .select(['recipients.status', (eb) => eb.fn.countAll<number | string>().as('n')])
    .groupBy('recipients.status')
    .execute();
  return rows.map((r) => ({ status: r.status, count: Number(r.n) }));
}
