// The tables the feedback code (bounce MX, suppressions, webhooks) reads and writes. Until
// `Database` in schema.ts lists the message and inbound tables, `feedbackDb()` widens a
// handle's type; afterwards it is the identity and can go.

import type { Kysely } from 'kysely';
import type { InboundTables } from './inbound.table.ts';
import type { MessageTables } from './messages.table.ts';
import type { Database } from './schema.ts';

export type FeedbackDatabase = Database & MessageTables & InboundTables;
export type FeedbackDb = Kysely<FeedbackDatabase>;

export function feedbackDb(db: Kysely<Database>): FeedbackDb {
  return db as unknown as FeedbackDb;
}
