// Counts for the auditor's report (src/privacy/report.ts) that the evidence export does not
// carry: what was accepted in the period (suppressed recipients have no attempt), the
// suppression list, and the erasures made. The attempt figures come from the evidence export
// itself (listEvidence), so the two always agree. Read-only.

import type { Db } from './database.ts';

/** Attempts of the account in [from, to): the number of rows the evidence export has. */
export async function countEvidence(
  db: Db,
  accountId: string,
  from: number,
  to: number,
): Promise<number> {
  const row = await db
    .selectFrom('attempts')
    .innerJoin('recipients', 'recipients.id', 'attempts.recipient_id')
    .innerJoin('messages', 'messages.id', 'recipients.message_id')
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where('messages.account_id', '=', accountId)
    .where('attempts.started_at', '>=', from)
    .where('attempts.started_at', '<', to)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** Messages (of the API, not our notifications) accepted in [from, to), with recipients by status now. */
export async function acceptedInPeriod(
  db: Db,
  accountId: string,
  from: number,
  to: number,
): Promise<{ messages: number; byStatus: Record<string, number> }> {
  const messages = await db
    .selectFrom('messages')
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where('account_id', '=', accountId)
    .where('kind', '=', 'message')
    .where('created_at', '>=', from)
    .where('created_at', '<', to)
    .executeTakeFirst();
  const rows = await db
    .selectFrom('recipients')
    .innerJoin('messages', 'messages.id', 'recipients.message_id')
    .select(['recipients.status', (eb) => eb.fn.countAll<number | string>().as('n')])
    .where('messages.account_id', '=', accountId)
    .where('messages.kind', '=', 'message')
    .where('messages.created_at', '>=', from)
    .where('messages.created_at', '<', to)
    .groupBy('recipients.status')
    .execute();
  const byStatus: Record<string, number> = {};
  for (const r of rows) byStatus[r.status] = Number(r.n);
  return { messages: Number(messages?.n ?? 0), byStatus };
}

/** Suppression entries added in [from, to) by reason, and the list's size at `to`. */
export async function suppressionFigures(
  db: Db,
  accountId: string,
  from: number,
  to: number,
): Promise<{ added: Record<string, number>; listed: number }> {
  const rows = await db
    .selectFrom('suppressions')
    .select(['reason', (eb) => eb.fn.countAll<number | string>().as('n')])
    .where('account_id', '=', accountId)
    .where('created_at', '>=', from)
    .where('created_at', '<', to)
    .groupBy('reason')
    .execute();
  const listed = await db
    .selectFrom('suppressions')
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where('account_id', '=', accountId)
    .where('created_at', '<', to)
    .executeTakeFirst();
  const added: Record<string, number> = {};
  for (const r of rows) added[r.reason] = Number(r.n);
  return { added, listed: Number(listed?.n ?? 0) };
}

/** Erasures made for the account in [from, to). */
export async function erasuresInPeriod(
  db: Db,
  accountId: string,
  from: number,
  to: number,
): Promise<number> {
  const row = await db
    .selectFrom('erasures')
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where('account_id', '=', accountId)
    .where('erased_at', '>=', from)
    .where('erased_at', '<', to)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}
