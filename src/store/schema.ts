// Row types of every table. Times are Unix epoch milliseconds (bigint in PostgreSQL, integer
// in SQLite) so both dialects compare and sort them the same way.

import type { Generated, Insertable, Selectable } from 'kysely';

export interface ClientsTable {
  client_id: string;
  name: string;
  /** scrypt hash of the secret; the secret itself is never stored. */
  secret_hash: string;
  /** Requests per quota window; null means the configured default. */
  quota_limit: number | null;
  created_at: number;
  secret_rotated_at: number;
}

export interface AccessTokensTable {
  /** SHA-256 of the token; a database leak does not hand out working tokens. */
  token_hash: string;
  client_id: string;
  issued_at: number;
  expires_at: number;
}

export interface QuotaUsageTable {
  client_id: string;
  window_start: number;
  used: number;
}

export type AccountState = 'unverified' | 'valid' | 'failed';
export type PolicyLevel = 'dane-only' | 'authenticated' | 'verified';

export interface AccountsTable {
  id: string;
  /** The OAuth client (tenant) that owns the account. */
  client_id: string;
  domain: string;
  notification_email: string;
  state: AccountState;
  bounce_subdomain: string;
  policy_level: PolicyLevel;
  /** The random value of the ownership (`ses`) TXT record. */
  ownership_token: string;
  created_at: number;
  updated_at: number;
}

export interface SettingsTable {
  key: string;
  value: string;
}

export interface MtaStsPoliciesTable {
  domain: string;
  policy_id: string;
  policy_json: string;
  fetched_at: number;
  expires_at: number;
}

export interface Database {
  clients: ClientsTable;
  access_tokens: AccessTokensTable;
  quota_usage: QuotaUsageTable;
  accounts: AccountsTable;
  settings: SettingsTable;
  mta_sts_policies: MtaStsPoliciesTable;
}

export type Client = Selectable<ClientsTable>;
export type Account = Selectable<AccountsTable>;
export type NewAccount = Insertable<AccountsTable>;
// Kept for later tables with generated keys.
export type { Generated };
