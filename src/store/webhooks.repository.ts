// Webhook endpoints (one per account) and the outbox of events waiting to be posted to
// them. Events are inserted inside the transaction that changed the state they report
// (src/outbox/webhook-events.ts), so an event exists exactly when its change was committed.

import { type Insertable, type Selectable, sql } from 'kysely';
import type { Db } from './database.ts';
import type { WebhookEventsTable, WebhookState, WebhooksTable } from './inbound.table.ts';

export type Webhook = Selectable<WebhooksTable>;
export type WebhookEvent = Selectable<WebhookEventsTable>;

export async function findWebhook(db: Db, accountId: string): Promise<Webhook | undefined> {
  return db
    .selectFrom('webhooks')
    .selectAll()
    .where('account_id', '=', accountId)
    .executeTakeFirst();
}

/** The account's webhook with the account's domain, for the events recorded in a change. */
export async function findWebhookSubscription(
  db: Db,
  accountId: string,
): Promise<{ domain: string; events: string; state: WebhookState } | undefined> {
  return db
    .selectFrom('webhooks')
    .innerJoin('accounts', 'accounts.id', 'webhooks.account_id')
    .select(['webhooks.events', 'webhooks.state', 'accounts.domain'])
    .where('webhooks.account_id', '=', accountId)
    .executeTakeFirst();
}

export async function insertWebhook(db: Db, row: Insertable<WebhooksTable>): Promise<void> {
  await db.insertInto('webhooks').values(row).execute();
}

export async function updateWebhook(
  db: Db,
  id: string,
  changes: Partial<Omit<WebhooksTable, 'id' | 'account_id' | 'created_at'>>,
): Promise<void> {
  await db.updateTable('webhooks').set(changes).where('id', '=', id).execute();
}

export async function deleteWebhook(db: Db, accountId: string): Promise<boolean> {
  const result = await db
    .deleteFrom('webhooks')
    .where('account_id', '=', accountId)
    .executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/** Disables an active webhook; false when it was not active (another dispatcher got there first). */
export async function disableActiveWebhook(db: Db, id: string, at: number): Promise<boolean> {
  const changed = await db
    .updateTable('webhooks')
    .set({ state: 'disabled', disabled_at: at, updated_at: at })
    .where('id', '=', id)
    .where('state', '=', 'active')
    .executeTakeFirst();
  return Number(changed.numUpdatedRows) === 1;
}

/** Appends an event at the end of its ordering line. Call inside the state change's transaction. */
export async function appendWebhookEvent(
  db: Db,
  event: Omit<Insertable<WebhookEventsTable>, 'seq'>,
): Promise<void> {
  const last = await db
    .selectFrom('webhook_events')
    .select((eb) => eb.fn.max('seq').as('seq'))
    .where('ordering_key', '=', event.ordering_key)
    .executeTakeFirst();
  await db
    .insertInto('webhook_events')
    .values({ ...event, seq: Number(last?.seq ?? 0) + 1 })
    .execute();
}

/**
 * Due events that are first in their line: nothing earlier with the same ordering key is
 * still pending. That is what keeps the events of one recipient in order.
 */
export async function dueWebhookEvents(
  db: Db,
  now: number,
  limit: number,
): Promise<WebhookEvent[]> {
  return db
    .selectFrom('webhook_events as e')
    .selectAll('e')
    .where('e.state', '=', 'pending')
    .where('e.next_attempt_at', '<=', now)
    .where((eb) => eb.or([eb('e.lease_until', 'is', null), eb('e.lease_until', '<', now)]))
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('webhook_events as earlier')
            .select(sql.lit(1).as('one'))
            .whereRef('earlier.ordering_key', '=', 'e.ordering_key')
            .where('earlier.state', '=', 'pending')
            .whereRef('earlier.seq', '<', 'e.seq'),
        ),
      ),
    )
    .orderBy('e.next_attempt_at')
    .orderBy('e.created_at')
    .limit(limit)
    .execute();
}

/** Takes the event for `owner` until `until`, unless another dispatcher holds it. */
export async function leaseWebhookEvent(
  db: Db,
  id: string,
  owner: string,
  now: number,
  until: number,
): Promise<boolean> {
  const result = await db
    .updateTable('webhook_events')
    .set({ lease_owner: owner, lease_until: until })
    .where('id', '=', id)
    .where('state', '=', 'pending')
    .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export async function finishWebhookEvent(
  db: Db,
  id: string,
  owner: string,
  changes: Pick<WebhookEventsTable, 'state' | 'attempts' | 'next_attempt_at' | 'last_error'> & {
    finished_at: number | null;
  },
): Promise<void> {
  await db
    .updateTable('webhook_events')
    .set({ ...changes, lease_owner: null, lease_until: null })
    .where('id', '=', id)
    .where('lease_owner', '=', owner)
    .execute();
}

/** Drops every pending event of an account (its endpoint was disabled or removed). */
export async function dropPendingEvents(
  db: Db,
  accountId: string,
  now: number,
  why: string,
): Promise<number> {
  const result = await db
    .updateTable('webhook_events')
    .set({
      state: 'dropped',
      last_error: why,
      finished_at: now,
      lease_owner: null,
      lease_until: null,
    })
    .where('account_id', '=', accountId)
    .where('state', '=', 'pending')
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

export async function listWebhookEvents(db: Db, accountId: string): Promise<WebhookEvent[]> {
  return db
    .selectFrom('webhook_events')
    .selectAll()
    .where('account_id', '=', accountId)
    .orderBy('created_at')
    .orderBy('seq')
    .execute();
}
