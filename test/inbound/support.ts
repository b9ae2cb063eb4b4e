// A test store with the message and feedback tables, and rows to bounce against: a client,
// an account with a bounce subdomain, messages with recipients.

import { randomUUID } from 'node:crypto';
import { createClient } from '../../src/clients/clients-service.ts';
import type { Db, Store } from '../../src/store/database.ts';
import type { RecipientStatus } from '../../src/vocabulary/recipient-statuses.ts';
import type { DialectCase, TestStore } from '../support/db.ts';

export interface FeedbackStore {
  store: TestStore;
  db: Db;
  close(): Promise<void>;
}

/** Opens the dialect's store (every migration applied, the feedback tables included). */
export async function openFeedbackStore(dialect: DialectCase): Promise<FeedbackStore> {
  // No introspection here: Kysely's getTables() reads every schema of the database, and a
  // schema that another test file drops at that moment failed it ("schema ... does not
  // exist", seen in CI with PostgreSQL).
  const store = await dialect.open();
  return { store, db: store.db, close: () => store.close() };
}

export interface TestAccount {
  clientId: string;
  accountId: string;
  domain: string;
  bounceDomain: string;
}

export async function makeAccount(
  store: Store,
  domain: string,
  options: { clientId?: string; bounceSubdomain?: string } = {},
): Promise<TestAccount> {
  const clientId =
    options.clientId ?? (await createClient(store, { name: `tenant of ${domain}` }, 1)).clientId;
  const accountId = randomUUID();
  const bounce = options.bounceSubdomain ?? 'bounce';
  await store.db
    .insertInto('accounts')
    .values({
      id: accountId,
      client_id: clientId,
      domain,
      notification_email: `ops@${domain}`,
      state: 'valid',
      bounce_subdomain: bounce,
      policy_level: 'authenticated',
      ownership_token: randomUUID(),
      created_at: 1,
      updated_at: 1,
    })
    .execute();
  return { clientId, accountId, domain, bounceDomain: `${bounce}.${domain}` };
}

export interface TestRecipient {
  id: string;
  messageId: string;
  address: string;
  verp: string;
}

/** A message from the account to `addresses`, each recipient in `status`. */
export async function makeMessage(
  db: Db,
  account: TestAccount,
  addresses: string[],
  status: RecipientStatus = 'delivered',
  kind: 'message' | 'notification' = 'message',
): Promise<TestRecipient[]> {
  const messageId = randomUUID();
  const now = 1_000;
  await db
    .insertInto('messages')
    .values({
      id: messageId,
      client_id: account.clientId,
      account_id: account.accountId,
      kind,
      sender: `sender@${account.domain}`,
      message_id_header: `${messageId}@${account.domain}`,
      subject_sealed: null,
      content_hash: 'x',
      size: 100,
      body_sealed: null,
      require_tls: 0,
      recipient_count: addresses.length,
      response_json: '{}',
      created_at: now,
      completed_at: null,
    })
    .execute();
  const final = !['queued', 'deferred'].includes(status);
  const recipients: TestRecipient[] = [];
  for (const address of addresses) {
    const id = randomUUID();
    await db
      .insertInto('recipients')
      .values({
        id,
        message_id: messageId,
        address,
        domain: address.slice(address.indexOf('@') + 1),
        status,
        attempts: 1,
        next_attempt_at: now,
        lease_owner: null,
        lease_until: null,
        reason: null,
        detail: null,
        created_at: now,
        updated_at: now,
        final_at: final ? now : null,
      })
      .execute();
    recipients.push({ id, messageId, address, verp: `bounce+${id}@${account.bounceDomain}` });
  }
  return recipients;
}

export async function recipientRow(db: Db, id: string) {
  return db.selectFrom('recipients').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}
