// Events for webhooks, recorded as an outbox row inside the transaction that made the
// change, so an event is never lost when a process dies and never sent for a change that
// was rolled back. The recipient lifecycle (src/recipients) and domain verification
// (src/accounts/verification.ts) append them; the dispatcher
// (src/notify/webhook-dispatcher.ts) only reads and posts them.
//
// Glossary: an *event* is one state change (a recipient became `bounced`, a domain became
// `valid`); a *webhook* is an account's HTTPS endpoint with the event types it wants; a
// *delivery* is one POST of an event to a webhook.

import { randomUUIDv7 } from 'node:crypto';
import type { Db } from '../store/database.ts';
import { appendWebhookEvent, findWebhookSubscription } from '../store/webhooks.repository.ts';
import type { RecipientStatus } from '../vocabulary/recipient-statuses.ts';

/** Recipient states an account can subscribe to; `queued` is not an event. */
export const RECIPIENT_EVENT_TYPES = [
  'delivered',
  'refused_insecure',
  'bounced',
  'deferred',
  'expired',
  'failed',
  'suppressed',
] as const satisfies readonly RecipientStatus[];
export type RecipientEventType = (typeof RECIPIENT_EVENT_TYPES)[number];

export const DOMAIN_EVENT_TYPE = 'domain_state_changed';
export const WEBHOOK_EVENT_TYPES = [...RECIPIENT_EVENT_TYPES, DOMAIN_EVENT_TYPE] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export interface RecipientEvent {
  accountId: string;
  /** Our message id (as returned by POST /message). */
  messageId: string;
  recipientId: string;
  address: string;
  status: RecipientStatus;
  reason: string | null;
  detail: string | null;
  at: number;
}

export interface DomainEvent {
  accountId: string;
  domain: string;
  state: string;
  at: number;
}

/** The JSON body of every delivery; `data` depends on `type`. */
export interface WebhookPayload {
  id: string;
  type: WebhookEventType;
  created_at: string;
  domain: string;
  data: Record<string, string | null>;
}

function isRecipientEventType(status: RecipientStatus): status is RecipientEventType {
  return (RECIPIENT_EVENT_TYPES as readonly string[]).includes(status);
}

/**
 * Queues the event if the account has an active webhook that wants it. Call with the
 * transaction that changes the recipient. Returns whether an event was queued.
 */
export async function recordRecipientEvent(trx: Db, event: RecipientEvent): Promise<boolean> {
  return (await recordRecipientEvents(trx, [event])) === 1;
}

/**
 * recordRecipientEvent for several events (the delivery worker's group commit): each
 * account's webhook is looked up once, not once per event. Returns how many were queued.
 */
export async function recordRecipientEvents(
  trx: Db,
  events: readonly RecipientEvent[],
): Promise<number> {
  const webhooks = new Map<string, Promise<SubscribedWebhook | undefined>>();
  let queued = 0;
  for (const event of events) {
    if (!isRecipientEventType(event.status)) continue;
    let webhook = webhooks.get(event.accountId);
    if (webhook === undefined) {
      webhook = activeWebhook(trx, event.accountId);
      webhooks.set(event.accountId, webhook);
    }
    const target = await webhook;
    if (target === undefined || !target.events.includes(event.status)) continue;
    const id = randomUUIDv7();
    const payload: WebhookPayload = {
      id,
      type: event.status,
      created_at: new Date(event.at).toISOString(),
      domain: target.domain,
      data: {
        message_id: event.messageId,
        recipient_id: event.recipientId,
        recipient: event.address,
        status: event.status,
        reason: event.reason,
        detail: event.detail,
      },
    };
    await appendPending(trx, event.accountId, `recipient:${event.recipientId}`, payload, event.at);
    queued++;
  }
  return queued;
}

/** Queues a domain state change (`unverified`, `valid`, `failed`) for the account's webhook. */
export async function recordDomainEvent(trx: Db, event: DomainEvent): Promise<boolean> {
  const target = await subscribedWebhook(trx, event.accountId, DOMAIN_EVENT_TYPE);
  if (target === undefined) return false;
  const id = randomUUIDv7();
  const payload: WebhookPayload = {
    id,
    type: DOMAIN_EVENT_TYPE,
    created_at: new Date(event.at).toISOString(),
    domain: event.domain,
    data: { domain: event.domain, state: event.state },
  };
  await appendPending(trx, event.accountId, `domain:${event.accountId}`, payload, event.at);
  return true;
}

/** One pending outbox row; events with the same ordering key are delivered in order. */
async function appendPending(
  trx: Db,
  accountId: string,
  orderingKey: string,
  payload: WebhookPayload,
  at: number,
): Promise<void> {
  await appendWebhookEvent(trx, {
    id: payload.id,
    account_id: accountId,
    ordering_key: orderingKey,
    type: payload.type,
    payload: JSON.stringify(payload),
    state: 'pending',
    attempts: 0,
    next_attempt_at: at,
    lease_owner: null,
    lease_until: null,
    last_error: null,
    created_at: at,
    finished_at: null,
  });
}

interface SubscribedWebhook {
  domain: string;
  events: string[];
}

/** The account's webhook when it is active, with the event types it wants. */
async function activeWebhook(db: Db, accountId: string): Promise<SubscribedWebhook | undefined> {
  const row = await findWebhookSubscription(db, accountId);
  if (row === undefined || row.state !== 'active') return undefined;
  return { domain: row.domain, events: JSON.parse(row.events) as string[] };
}

async function subscribedWebhook(
  db: Db,
  accountId: string,
  type: WebhookEventType,
): Promise<{ domain: string } | undefined> {
  const webhook = await activeWebhook(db, accountId);
  return webhook?.events.includes(type) ? { domain: webhook.domain } : undefined;
}
