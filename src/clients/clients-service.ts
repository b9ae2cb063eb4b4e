// OAuth 2.0 clients (tenants): created and managed with the CLI, they exchange their
// credentials for short-lived Bearer tokens. Only hashes of secrets and tokens are stored.

import { createHash } from 'node:crypto';
import {
  hashSecret,
  randomAlphanumeric,
  randomToken,
  verifySecret,
} from '../secrets/secret-hash.ts';
import {
  countAccounts,
  deleteClient as deleteClientRow,
  findClient,
  findTokenOwner,
  insertClient,
  insertToken,
  listClients as listClientRows,
  replaceSecret,
  type TokenOwner,
} from '../store/clients.repository.ts';
import type { Store } from '../store/database.ts';

export interface ClientCredentials {
  clientId: string;
  clientSecret: string;
}

export interface ClientSummary {
  clientId: string;
  name: string;
  quotaLimit: number | null;
  createdAt: number;
  secretRotatedAt: number;
  accounts: number;
}

export interface IssuedToken {
  accessToken: string;
  clientId: string;
  clientName: string;
  issuedAt: number;
  expiresIn: number;
}

// 32 letters and digits (190 bits), the shape of the KPN API Store's consumer keys.
const CLIENT_ID_LENGTH = 32;
const SECRET_BYTES = 32;
const TOKEN_BYTES = 32;

// A hash of a random secret, verified against when the client id is unknown, so that an
// unknown id takes as long to refuse as a wrong secret.
const DECOY_HASH = hashSecret(randomToken(SECRET_BYTES));

export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

export async function createClient(
  store: Store,
  input: { name: string; quotaLimit?: number | null },
  now: number,
): Promise<ClientCredentials> {
  const clientId = randomAlphanumeric(CLIENT_ID_LENGTH);
  const clientSecret = randomToken(SECRET_BYTES);
  await insertClient(store.db, {
    clientId,
    name: input.name,
    secretHash: await hashSecret(clientSecret),
    quotaLimit: input.quotaLimit ?? null,
    now,
  });
  return { clientId, clientSecret };
}

/** New secret for an existing client; every token issued before is revoked. */
export async function rotateClient(
  store: Store,
  clientId: string,
  now: number,
): Promise<ClientCredentials | undefined> {
  const clientSecret = randomToken(SECRET_BYTES);
  const ok = await replaceSecret(store.db, clientId, await hashSecret(clientSecret), now);
  return ok ? { clientId, clientSecret } : undefined;
}

export async function deleteClient(store: Store, clientId: string): Promise<boolean> {
  return deleteClientRow(store.db, clientId);
}

export async function listClients(store: Store): Promise<ClientSummary[]> {
  const rows = await listClientRows(store.db);
  return Promise.all(
    rows.map(async (r) => ({
      clientId: r.client_id,
      name: r.name,
      quotaLimit: r.quota_limit,
      createdAt: r.created_at,
      secretRotatedAt: r.secret_rotated_at,
      accounts: await countAccounts(store.db, r.client_id),
    })),
  );
}

/** Checks a secret against its stored hash (verifySecret, or a queue in front of it). */
export type SecretVerifier = (secret: string, stored: string) => Promise<boolean>;

/** Exchanges client credentials for an access token, or undefined when they are wrong. */
export async function issueToken(
  store: Store,
  credentials: ClientCredentials,
  now: number,
  ttlSeconds: number,
  verify: SecretVerifier = verifySecret,
): Promise<IssuedToken | undefined> {
  const client = await findClient(store.db, credentials.clientId);
  const valid = await verify(credentials.clientSecret, client?.secret_hash ?? (await DECOY_HASH));
  if (client === undefined || !valid) return undefined;
  const accessToken = randomToken(TOKEN_BYTES);
  await insertToken(store.db, {
    tokenHash: tokenHash(accessToken),
    clientId: client.client_id,
    issuedAt: now,
    expiresAt: now + ttlSeconds * 1000,
  });
  return {
    accessToken,
    clientId: client.client_id,
    clientName: client.name,
    issuedAt: now,
    expiresIn: ttlSeconds,
  };
}

/** The client behind a Bearer token that exists, has not expired and was not revoked. */
export async function resolveToken(
  store: Store,
  accessToken: string,
  now: number,
): Promise<TokenOwner | undefined> {
  return findTokenOwner(store.db, tokenHash(accessToken), now);
}
