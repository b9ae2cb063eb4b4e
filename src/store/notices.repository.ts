// The notice digest's queries: appending undelivered recipients, finding the messages whose
// notice is due, claiming a notice (one conditional statement, so two workers never both
// send it) and taking the recipients it reports. The rule of when a notice is due lives in
// dueNoticesQuery below and is explained in src/outbox/recipient-notices.ts.

import { sql } from 'kysely';
import type { Db } from './database.ts';
import type { PendingNoticesTable } from './notices.table.ts';

const ROWS_PER_STATEMENT = 200;

export async function insertPendingNotices(
  db: Db,
  rows: readonly PendingNoticesTable[],
): Promise<void> {
  for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
    await db
      .insertInto('pending_notices')
      .values(rows.slice(i, i + ROWS_PER_STATEMENT))
      // A recipient ends undelivered once (delivered -> bounced included); a repeat is harmless.
      .onConflict((oc) => oc.column('recipient_id').doNothing())
      .execute();
  }
}

export interface DueNoticeRow {
  messageId: string;
  /** Notices sent for the message so far (0: none, no claim row yet). */
  noticeCount: number;
}

/**
 * Messages whose notice is due at `now`: their oldest pending recipient ended a window ago,
 * or the message became complete with it (nothing more can follow but a late bounce), and
 * their last notice is a window old. Oldest first.
 */
export async function listDueNotices(
  db: Db,
  p: { now: number; windowMs: number; limit: number; messageIds?: readonly string[] },
): Promise<DueNoticeRow[]> {
  const windowStart = p.now - p.windowMs;
  let query = db
    .selectFrom('pending_notices as p')
    .innerJoin('messages as m', 'm.id', 'p.message_id')
    .leftJoin('message_notices as n', 'n.message_id', 'p.message_id')
    .select([
      'p.message_id',
      'n.notice_count',
      (eb) => eb.fn.min<number | string>('p.ended_at').as('first_ended'),
    ])
    .groupBy(['p.message_id', 'm.completed_at', 'n.notice_count', 'n.last_notice_at'])
    .having((eb) =>
      eb.and([
        eb.or([
          eb(eb.fn.min('p.ended_at'), '<=', windowStart),
          eb('m.completed_at', '>=', eb.fn.min('p.ended_at')),
        ]),
        eb.or([eb('n.last_notice_at', 'is', null), eb('n.last_notice_at', '<=', windowStart)]),
      ]),
    )
    .orderBy(sql`min(p.ended_at)`)
    .limit(p.limit);
  if (p.messageIds !== undefined) {
    if (p.messageIds.length === 0) return [];
    query = query.where('p.message_id', 'in', p.messageIds);
  }
  const rows = await query.execute();
  return rows.map((r) => ({ messageId: r.message_id, noticeCount: r.notice_count ?? 0 }));
}

/**
 * Claims the next notice of a message: true for exactly one caller among any number that
 * read `seenCount` (a conditional insert for the first notice, a conditional update for
 * later ones; on PostgreSQL the loser waits for the winner's commit and then matches nothing).
 */
export async function claimNotice(
  db: Db,
  messageId: string,
  seenCount: number,
  now: number,
): Promise<boolean> {
  if (seenCount === 0) {
    const inserted = await db
      .insertInto('message_notices')
      .values({ message_id: messageId, notice_count: 1, last_notice_at: now })
      .onConflict((oc) => oc.column('message_id').doNothing())
      .returning('message_id')
      .executeTakeFirst();
    return inserted !== undefined;
  }
  const result = await db
    .updateTable('message_notices')
    .set((eb) => ({ notice_count: eb('notice_count', '+', 1), last_notice_at: now }))
    .where('message_id', '=', messageId)
    .where('notice_count', '=', seenCount)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Removes and returns the message's pending recipients (in the claim's transaction). */
export async function takePendingNotices(db: Db, messageId: string): Promise<string[]> {
  const rows = await db
    .deleteFrom('pending_notices')
    .where('message_id', '=', messageId)
    .returning('recipient_id')
    .execute();
  return rows.map((r) => r.recipient_id);
}

/** How many recipients wait for a notice (for tests and the operator's view). */
export async function countPendingNotices(db: Db, messageId: string): Promise<number> {
  const row = await db
    .selectFrom('pending_notices')
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where('message_id', '=', messageId)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}
