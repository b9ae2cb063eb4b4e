// What the service holds about one e-mail address within one account, found for a data
// subject's access and erasure requests (GDPR art. 15 and 17; src/privacy). Read-only: the
// changes an erasure makes are in erasure.repository.ts.
//
// Addresses are compared with lower() on both sides: the caller passes the address
// lower-cased, submission stores it as given (checkAddress's canonical form). SQLite's lower()
// folds ASCII letters only, PostgreSQL's every letter; docs/privacy.md says so.
//
// No index serves these lookups (recipients are found by message, due time and id on the hot
// paths; another index would cost every submission for a request made a few times a month):
// each is one scan of the account's rows. Measured on the 2-core dev machine, finding one
// address among 1,000,000 recipients of one account: 0.47-0.52 s on SQLite, 0.45-0.77 s on
// PostgreSQL.

import { sql } from 'kysely';
import type { Db } from './database.ts';
import type { InboundMessage } from './inbound.repository.ts';
import type { AttemptsTable, MessagesTable, RecipientsTable } from './messages.table.ts';
import type { WebhookEvent } from './webhooks.repository.ts';

/** Rows per page where sealed content is read to be opened and searched. */
export const SEALED_PAGE = 200;

/** LIKE pattern for text containing `needle` (lower-cased), with % and _ taken literally. */
function containing(needle: string): string {
  return `%${needle.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** The account's recipients whose address is `address` (lower-cased), oldest first. */
export async function recipientsWithAddress(
  db: Db,
  accountId: string,
  address: string,
): Promise<RecipientsTable[]> {
  const domain = address.slice(address.lastIndexOf('@') + 1);
  return (
    db
      .selectFrom('recipients')
      .innerJoin('messages', 'messages.id', 'recipients.message_id')
      .selectAll('recipients')
      .where('messages.account_id', '=', accountId)
      // A cheaper first test than lower(address) on rows of other domains.
      .where(sql`lower(recipients.domain)`, '=', domain)
      .where(sql`lower(recipients.address)`, '=', address)
      .orderBy('recipients.created_at')
      .orderBy('recipients.id')
      .execute()
  );
}

/** The account's messages sent from `address` (lower-cased). */
export async function messageIdsFromSender(
  db: Db,
  accountId: string,
  address: string,
): Promise<string[]> {
  const rows = await db
    .selectFrom('messages')
    .select('id')
    .where('account_id', '=', accountId)
    .where(sql`lower(sender)`, '=', address)
    .execute();
  return rows.map((r) => r.id);
}

export async function messagesByIds(db: Db, ids: readonly string[]): Promise<MessagesTable[]> {
  const out: MessagesTable[] = [];
  for (let i = 0; i < ids.length; i += 500) {
    out.push(
      ...(await db
        .selectFrom('messages')
        .selectAll()
        .where('id', 'in', ids.slice(i, i + 500))
        .execute()),
    );
  }
  return out.sort((a, b) => a.created_at - b.created_at || a.id.localeCompare(b.id));
}

/** Every recipient of these messages (an erasure cancels a message's open ones). */
export async function recipientsOfMessages(
  db: Db,
  messageIds: readonly string[],
): Promise<RecipientsTable[]> {
  const out: RecipientsTable[] = [];
  for (let i = 0; i < messageIds.length; i += 500) {
    out.push(
      ...(await db
        .selectFrom('recipients')
        .selectAll()
        .where('message_id', 'in', messageIds.slice(i, i + 500))
        .execute()),
    );
  }
  return out;
}

/**
 * One page of the account's messages that still hold a sealed subject or body, in id order
 * after `after`: the erasure opens each and searches it for the address.
 */
export async function sealedContentPage(
  db: Db,
  accountId: string,
  after: string,
): Promise<Array<Pick<MessagesTable, 'id' | 'subject_sealed' | 'body_sealed'>>> {
  return db
    .selectFrom('messages')
    .select(['id', 'subject_sealed', 'body_sealed'])
    .where('account_id', '=', accountId)
    .where('id', '>', after)
    .where((eb) => eb.or([eb('subject_sealed', 'is not', null), eb('body_sealed', 'is not', null)]))
    .orderBy('id')
    .limit(SEALED_PAGE)
    .execute();
}

/** The attempts of these recipients as stored (own evidence only, not joined). */
export async function storedAttempts(
  db: Db,
  recipientIds: readonly string[],
): Promise<AttemptsTable[]> {
  const out: AttemptsTable[] = [];
  for (let i = 0; i < recipientIds.length; i += 500) {
    out.push(
      ...(await db
        .selectFrom('attempts')
        .selectAll()
        .where('recipient_id', 'in', recipientIds.slice(i, i + 500))
        .orderBy('started_at')
        .execute()),
    );
  }
  return out;
}

/**
 * The account's webhook events about these recipients (their ordering key) or whose payload
 * names the address (lower-cased) anywhere.
 */
export async function webhookEventsAbout(
  db: Db,
  accountId: string,
  recipientIds: readonly string[],
  address: string,
): Promise<WebhookEvent[]> {
  const keys = recipientIds.map((id) => `recipient:${id}`);
  const found = new Map<string, WebhookEvent>();
  for (let i = 0; i < keys.length; i += 500) {
    for (const row of await db
      .selectFrom('webhook_events')
      .selectAll()
      .where('ordering_key', 'in', keys.slice(i, i + 500))
      .execute())
      found.set(row.id, row);
  }
  for (const row of await db
    .selectFrom('webhook_events')
    .selectAll()
    .where('account_id', '=', accountId)
    .where(sql<boolean>`lower(payload) like ${containing(address)} escape '\\'`)
    .execute())
    found.set(row.id, row);
  return [...found.values()].sort((a, b) => a.created_at - b.created_at || a.seq - b.seq);
}

/**
 * What the bounce MX received about these recipients, from the address (an automatic reply),
 * or whose parsed report names it, for the account.
 */
export async function inboundAbout(
  db: Db,
  accountId: string,
  recipientIds: readonly string[],
  address: string,
): Promise<InboundMessage[]> {
  const found = new Map<string, InboundMessage>();
  for (let i = 0; i < recipientIds.length; i += 500) {
    for (const row of await db
      .selectFrom('inbound_messages')
      .selectAll()
      .where('recipient_id', 'in', recipientIds.slice(i, i + 500))
      .execute())
      found.set(row.id, row);
  }
  for (const row of await db
    .selectFrom('inbound_messages')
    .selectAll()
    .where('account_id', '=', accountId)
    .where((eb) =>
      eb.or([
        eb(sql`lower(mail_from)`, '=', address),
        eb(
          sql<string>`lower(report_json)`,
          'like',
          sql<string>`${containing(address)} escape '\\'`,
        ),
        eb(sql<string>`lower(outcome)`, 'like', sql<string>`${containing(address)} escape '\\'`),
      ]),
    )
    .execute())
    found.set(row.id, row);
  return [...found.values()].sort((a, b) => a.received_at - b.received_at);
}

/** One page of the account's received messages whose content was kept (sealed), by id. */
export async function keptInboundPage(
  db: Db,
  accountId: string,
  after: string,
): Promise<Array<Pick<InboundMessage, 'id' | 'raw_sealed'>>> {
  return db
    .selectFrom('inbound_messages')
    .select(['id', 'raw_sealed'])
    .where('account_id', '=', accountId)
    .where('id', '>', after)
    .where('raw_sealed', 'is not', null)
    .orderBy('id')
    .limit(SEALED_PAGE)
    .execute();
}

export async function inboundByIds(db: Db, ids: readonly string[]): Promise<InboundMessage[]> {
  if (ids.length === 0) return [];
  return db
    .selectFrom('inbound_messages')
    .selectAll()
    .where('id', 'in', [...ids])
    .orderBy('received_at')
    .execute();
}

/** The suppression entries of the account under these keys (the address, its digest). */
export async function suppressionsUnder(db: Db, accountId: string, keys: readonly string[]) {
  return db
    .selectFrom('suppressions')
    .selectAll()
    .where('account_id', '=', accountId)
    .where('address', 'in', [...keys])
    .execute();
}

/** Open (queued or deferred) recipients among `ids` a worker still holds a lease on at `now`. */
export async function leasedOpenRecipients(
  db: Db,
  ids: readonly string[],
  now: number,
): Promise<Array<{ id: string; lease_until: number }>> {
  const out: Array<{ id: string; lease_until: number }> = [];
  for (let i = 0; i < ids.length; i += 500) {
    const rows = await db
      .selectFrom('recipients')
      .select(['id', 'lease_until'])
      .where('id', 'in', ids.slice(i, i + 500))
      .where('status', 'in', ['queued', 'deferred'])
      .where('lease_until', '>=', now)
      .execute();
    for (const r of rows) out.push({ id: r.id, lease_until: r.lease_until! });
  }
  return out;
}

/** Pending webhook events among `ids` a dispatcher holds a lease on at `now`. */
export async function leasedPendingEvents(
  db: Db,
  ids: readonly string[],
  now: number,
): Promise<Array<{ id: string; lease_until: number }>> {
  if (ids.length === 0) return [];
  const rows = await db
    .selectFrom('webhook_events')
    .select(['id', 'lease_until'])
    .where('id', 'in', [...ids])
    .where('state', '=', 'pending')
    .where('lease_until', '>=', now)
    .execute();
  return rows.map((r) => ({ id: r.id, lease_until: r.lease_until! }));
}
