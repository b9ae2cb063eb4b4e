// Messages and recipients: written once at submission (one transaction), then read and
// updated by the worker and the status routes.

import { type Kysely, sql } from 'kysely';
import type { MessagesTable, RecipientsTable } from './messages.table.ts';
import type { Database } from './schema.ts';

type Db = Kysely<Database>;

// SQLite allows 32766 bound parameters per statement; 14 columns x 500 rows stays well below.
const INSERT_CHUNK = 500;

export async function findMessageByHeaderId(
  db: Db,
  accountId: string,
  messageIdHeader: string,
): Promise<MessagesTable | undefined> {
  return db
    .selectFrom('messages')
    .selectAll()
    .where('account_id', '=', accountId)
    .where('message_id_header', '=', messageIdHeader)
    .executeTakeFirst();
}

export async function insertMessageWithRecipients(
  db: Db,
  message: MessagesTable,
  recipients: RecipientsTable[],
): Promise<void> {
  await db.insertInto('messages').values(message).execute();
  for (let i = 0; i < recipients.length; i += INSERT_CHUNK) {
    await db
      .insertInto('recipients')
      .values(recipients.slice(i, i + INSERT_CHUNK))
      .execute();
  }
}

/** Counts one message for the account's day unless the day's limit is reached. */
export async function takeDailyMessage(
  db: Db,
  accountId: string,
  day: number,
  limit: number,
): Promise<boolean> {
  const taken = await db
    .insertInto('account_usage')
    .values({ account_id: accountId, day, messages: 1 })
    .onConflict((oc) =>
      oc
        .columns(['account_id', 'day'])
        .doUpdateSet({ messages: sql<number>`account_usage.messages + 1` })
        .where('account_usage.messages', '<', limit),
    )
    .returning('messages')
    .executeTakeFirst();
  return taken !== undefined;
}

export async function findMessage(
  db: Db,
  clientId: string,
  id: string,
): Promise<MessagesTable | undefined> {
  return db
    .selectFrom('messages')
    .selectAll()
    .where('client_id', '=', clientId)
    .where('id', '=', id)
    .executeTakeFirst();
}

export async function listRecipients(db: Db, messageId: string): Promise<RecipientsTable[]> {
  return db
    .selectFrom('recipients')
    .selectAll()
    .where('message_id', '=', messageId)
    .orderBy('address')
    .execute();
}
