// The recent deliveries of an account's webhook events, newest first, for
// GET /account/webhook/deliveries: what was posted, whether it arrived, and the last error.
// Read-only; the outbox itself is written by src/notify/events.ts and the dispatcher.

import type { Db } from './database.ts';
import type { WebhookEvent } from './webhooks.repository.ts';

export async function recentWebhookEvents(
  db: Db,
  accountId: string,
  limit: number,
): Promise<WebhookEvent[]> {
  return db
    .selectFrom('webhook_events')
    .selectAll()
    .where('account_id', '=', accountId)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
}
