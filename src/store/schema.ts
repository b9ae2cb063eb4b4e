// Row types of every table. Times are Unix epoch milliseconds (bigint in PostgreSQL, integer
// in SQLite) so both dialects compare and sort them the same way.

import type { Generated, Insertable, Selectable } from 'kysely';
import type { PolicyLevel } from '../vocabulary/policy-levels.ts';
import type { InboundTables } from './inbound.table.ts';
import type { MessageTables } from './messages.table.ts';
import type { NoticeTables } from './notices.table.ts';
import type { PrivacyTables } from './privacy.table.ts';
import type { WorkerTables } from './workers.table.ts';

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

/** The MTA-STS policy cache (src/store/mta-sts-policies.repository.ts); the one row type. */
export interface MtaStsPoliciesTable {
  domain: string;
  policy_id: string;
  policy_json: string;
  fetched_at: number;
  expires_at: number;
}

/** `active` keys sign; a `pending` key is published by a rotation and waits to verify. */
export type DkimKeyStatus = 'active' | 'pending' | 'retired';
/** The DKIM `k=` tag value. */
export type DkimAlgorithm = 'rsa' | 'ed25519';

export interface DkimKeysTable {
  id: string;
  account_id: string;
  selector: string;
  algorithm: DkimAlgorithm;
  /** Base64 of the DER SubjectPublicKeyInfo (RSA) or the raw 32-byte key (Ed25519): the `p=` tag. */
  public_key: string;
  /** PKCS#8 PEM sealed with the master key (src/secrets/sealed-box.ts), base64. */
  private_key_sealed: string;
  status: DkimKeyStatus;
  created_at: number;
  activated_at: number | null;
  retired_at: number | null;
}

/** How the last complete DNS check of a domain ended. */
export type VerificationOutcome = 'valid' | 'invalid' | 'transient';

export interface DomainChecksTable {
  /** One row per account: the verification schedule and the last results per record. */
  account_id: string;
  /** JSON: record key -> { status, detail, found }; see src/accounts/dns-records.ts. */
  results: string;
  /** Checks since the current verification window started; drives the backoff. */
  attempts: number;
  /** When the domain became unverified (creation, lost records, manual re-check). */
  window_started_at: number;
  next_check_at: number;
  last_checked_at: number | null;
  last_outcome: VerificationOutcome | null;
  last_valid_at: number | null;
}

export interface AccountNotificationsTable {
  id: string;
  account_id: string;
  /** e.g. `domain_unverified`. */
  kind: string;
  recipient: string;
  /**
   * Subject and body sealed with the master key (src/secrets/sealed-content.ts). Always
   * written; nullable in the schema only because SQLite adds no NOT NULL column without a
   * default (migration 0007).
   */
  subject_sealed: string;
  body_sealed: string;
  created_at: number;
  /** Null until the worker queued it as a notification message. */
  sent_at: number | null;
}

export interface Database
  extends MessageTables,
    InboundTables,
    NoticeTables,
    PrivacyTables,
    WorkerTables {
  clients: ClientsTable;
  access_tokens: AccessTokensTable;
  quota_usage: QuotaUsageTable;
  accounts: AccountsTable;
  settings: SettingsTable;
  mta_sts_policies: MtaStsPoliciesTable;
  dkim_keys: DkimKeysTable;
  domain_checks: DomainChecksTable;
  account_notifications: AccountNotificationsTable;
}

export type Client = Selectable<ClientsTable>;
export type Account = Selectable<AccountsTable>;
export type NewAccount = Insertable<AccountsTable>;
export type DkimKey = Selectable<DkimKeysTable>;
export type DomainCheck = Selectable<DomainChecksTable>;
export type AccountNotification = Selectable<AccountNotificationsTable>;
export type MtaStsPolicy = Selectable<MtaStsPoliciesTable>;
// Kept for later tables with generated keys.
export type { Generated };
