// OAuth clients (tenants) and their access tokens.

import type { Kysely } from 'kysely';
import { prepareQuery } from './prepared-query.ts';
import type { Client, Database } from './schema.ts';

type Db = Kysely<Database>;

export interface NewClient {
  clientId: string;
  name: string;
  secretHash: string;
  quotaLimit: number | null;
  now: number;
}

export async function insertClient(db: Db, c: NewClient): Promise<void> {
  await db
    .insertInto('clients')
    .values({
      client_id: c.clientId,
      name: c.name,
      secret_hash: c.secretHash,
      quota_limit: c.quotaLimit,
      created_at: c.now,
      secret_rotated_at: c.now,
    })
    .execute();
}

export async function findClient(db: Db, clientId: string): Promise<Client | undefined> {
  return db.selectFrom('clients').selectAll().where('client_id', '=', clientId).executeTakeFirst();
}

export async function listClients(db: Db): Promise<Client[]> {
  return db.selectFrom('clients').selectAll().orderBy('created_at').orderBy('client_id').execute();
}

/** Deletes the client with its tokens, quota counters and accounts. True when it existed. */
export async function deleteClient(db: Db, clientId: string): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    // Explicit deletes as well as ON DELETE CASCADE: SQLite enforces the cascade only where
    // foreign keys are switched on for the connection.
    await trx.deleteFrom('access_tokens').where('client_id', '=', clientId).execute();
    await trx.deleteFrom('quota_usage').where('client_id', '=', clientId).execute();
    await trx.deleteFrom('accounts').where('client_id', '=', clientId).execute();
    const result = await trx
      .deleteFrom('clients')
      .where('client_id', '=', clientId)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  });
}

/** Replaces the secret and revokes every token issued under the old one. */
export async function replaceSecret(
  db: Db,
  clientId: string,
  secretHash: string,
  now: number,
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const result = await trx
      .updateTable('clients')
      .set({ secret_hash: secretHash, secret_rotated_at: now })
      .where('client_id', '=', clientId)
      .executeTakeFirst();
    await trx.deleteFrom('access_tokens').where('client_id', '=', clientId).execute();
    return Number(result.numUpdatedRows) > 0;
  });
}

export async function countAccounts(db: Db, clientId: string): Promise<number> {
  const row = await db
    .selectFrom('accounts')
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where('client_id', '=', clientId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function insertToken(
  db: Db,
  token: { tokenHash: string; clientId: string; issuedAt: number; expiresAt: number },
): Promise<void> {
  await db
    .insertInto('access_tokens')
    .values({
      token_hash: token.tokenHash,
      client_id: token.clientId,
      issued_at: token.issuedAt,
      expires_at: token.expiresAt,
    })
    .execute();
}

export interface TokenOwner {
  clientId: string;
  clientName: string;
  quotaLimit: number | null;
  expiresAt: number;
}

const tokenOwnerQuery = prepareQuery((db: Db, p: { tokenHash: string; now: number }) =>
  db
    .selectFrom('access_tokens')
    .innerJoin('clients', 'clients.client_id', 'access_tokens.client_id')
    .select([
      'clients.client_id',
      'clients.name',
      'clients.quota_limit',
      'access_tokens.expires_at',
    ])
    .where('access_tokens.token_hash', '=', p.tokenHash)
    .where('access_tokens.expires_at', '>', p.now),
);

/**
 * The client a token belongs to, if the token exists and has not expired. Asked on every
 * API request, so the query is prepared once (prepared-query.ts); never cached, so a
 * revoked token fails at once.
 */
export async function findTokenOwner(
  db: Db,
  tokenHash: string,
  now: number,
): Promise<TokenOwner | undefined> {
  const { rows } = await tokenOwnerQuery(db, { tokenHash, now });
  const row = rows[0];
  if (row === undefined) return undefined;
  return {
    clientId: row.client_id,
    clientName: row.name,
    quotaLimit: row.quota_limit,
    expiresAt: row.expires_at,
  };
}

/** Removes expired tokens; returns how many. Called now and then, not on the request path. */
export async function deleteExpiredTokens(db: Db, now: number): Promise<number> {
  const result = await db
    .deleteFrom('access_tokens')
    .where('expires_at', '<=', now)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
