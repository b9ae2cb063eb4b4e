// What `securemail doctor` reads of the database besides its migrations: the newest time the
// service recorded, to tell a clock that went back. Read-only, and cheap enough to run by
// hand: the messages are read through their (client_id, created_at) index.

import type { Db } from './database.ts';

/** The latest time a message, token or account change was recorded; null when empty. */
export async function newestRecordedTime(db: Db): Promise<number | null> {
  const times = await Promise.all([
    db
      .selectFrom('messages')
      .select((eb) => eb.fn.max<number | string | null>('created_at').as('at'))
      .executeTakeFirst(),
    db
      .selectFrom('access_tokens')
      .select((eb) => eb.fn.max<number | string | null>('issued_at').as('at'))
      .executeTakeFirst(),
    db
      .selectFrom('accounts')
      .select((eb) => eb.fn.max<number | string | null>('updated_at').as('at'))
      .executeTakeFirst(),
  ]);
  const found = times
    .map((t) => t?.at)
    .filter((at) => at != null)
    .map(Number);
  return found.length === 0 ? null : Math.max(...found);
}
