// Retention deletes of what had none before (src/privacy/retention.ts): finished webhook
// events and sent account notices. One bounded batch per call, so no long lock blocks the
// queue or the dispatcher.

import type { Db } from './database.ts';

/** Deletes up to `batch` webhook events that finished before `before`; returns how many. */
export async function deleteWebhookEventsFinishedBefore(
  db: Db,
  before: number,
  batch: number,
): Promise<number> {
  // `finished_at is not null` lets both dialects use the partial index webhook_events_finished.
  const due = db
    .selectFrom('webhook_events')
    .select('id')
    .where('finished_at', 'is not', null)
    .where('finished_at', '<', before)
    .limit(batch);
  const result = await db.deleteFrom('webhook_events').where('id', 'in', due).executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** Deletes up to `batch` account notices sent before `before`; returns how many. */
export async function deleteNoticesSentBefore(
  db: Db,
  before: number,
  batch: number,
): Promise<number> {
  const due = db
    .selectFrom('account_notifications')
    .select('id')
    .where('sent_at', 'is not', null)
    .where('sent_at', '<', before)
    .limit(batch);
  const result = await db
    .deleteFrom('account_notifications')
    .where('id', 'in', due)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
