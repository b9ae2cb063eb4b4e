// What the bounce MX received: one row per message, with its classification and, for
// inspection, the message itself (possibly cut at the keep limit), sealed by the caller.

import type { Insertable, Selectable } from 'kysely';
import type { Db } from './database.ts';
import type { InboundKind, InboundMessagesTable } from './inbound.table.ts';

export type InboundMessage = Selectable<InboundMessagesTable>;

export async function insertInboundMessage(
  db: Db,
  row: Insertable<InboundMessagesTable>,
): Promise<void> {
  await db.insertInto('inbound_messages').values(row).execute();
}

export async function listInboundMessages(
  db: Db,
  filter: {
    accountId?: string;
    recipientId?: string;
    kind?: InboundKind;
    limit?: number;
    /** Newest first (for an operator looking at what came in lately). */
    newestFirst?: boolean;
  } = {},
): Promise<InboundMessage[]> {
  const direction = filter.newestFirst === true ? 'desc' : 'asc';
  let query = db
    .selectFrom('inbound_messages')
    .selectAll()
    .orderBy('received_at', direction)
    .orderBy('id', direction)
    .limit(filter.limit ?? 100);
  if (filter.kind !== undefined) query = query.where('kind', '=', filter.kind);
  if (filter.accountId !== undefined) query = query.where('account_id', '=', filter.accountId);
  if (filter.recipientId !== undefined)
    query = query.where('recipient_id', '=', filter.recipientId);
  return query.execute();
}

export async function findInboundMessage(db: Db, id: string): Promise<InboundMessage | undefined> {
  return db.selectFrom('inbound_messages').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Bytes of received messages kept for inspection, over all rows (read from an index). */
export async function sumKeptBytes(db: Db): Promise<number> {
  const row = await db
    .selectFrom('inbound_messages')
    .select((eb) => eb.fn.sum<string | number | null>('raw_bytes').as('total'))
    .executeTakeFirst();
  return Number(row?.total ?? 0);
}

/** Retention: removes received messages older than `before`. */
export async function deleteInboundBefore(db: Db, before: number): Promise<number> {
  const result = await db
    .deleteFrom('inbound_messages')
    .where('received_at', '<', before)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** Accounts whose bounce domain (`<bounce_subdomain>.<domain>`) is `domain`. */
export async function accountsForBounceDomain(db: Db, domain: string): Promise<{ id: string }[]> {
  const dot = domain.indexOf('.');
  if (dot <= 0) return [];
  return db
    .selectFrom('accounts')
    .select('id')
    .where('bounce_subdomain', '=', domain.slice(0, dot))
    .where('domain', '=', domain.slice(dot + 1))
    .execute();
}

/** The recipient a VERP address names, with the account of its message. */
export async function findBouncedRecipient(
  db: Db,
  recipientId: string,
): Promise<{ id: string; address: string; accountId: string } | undefined> {
  const row = await db
    .selectFrom('recipients')
    .innerJoin('messages', 'messages.id', 'recipients.message_id')
    .select(['recipients.id', 'recipients.address', 'messages.account_id'])
    .where('recipients.id', '=', recipientId)
    .executeTakeFirst();
  return row === undefined
    ? undefined
    : { id: row.id, address: row.address, accountId: row.account_id };
}
