// Row types of the feedback tables: what the bounce MX received, the per-account
// suppression list, webhook endpoints and the webhook outbox. Times are epoch milliseconds.

/** How the bounce MX understood a received message; see src/inbound/classify.ts. */
export const INBOUND_KINDS = [
  'dsn',
  'plain_bounce',
  'auto_reply',
  'unattributed',
  'unparseable',
  'oversized',
] as const;
export type InboundKind = (typeof INBOUND_KINDS)[number];

export interface InboundMessagesTable {
  id: string;
  received_at: number;
  /** The SMTP envelope: MAIL FROM ('' for the null sender) and the accepted RCPT TO. */
  mail_from: string;
  rcpt_to: string;
  remote_address: string;
  helo: string;
  /** Bytes received (can exceed what was kept). */
  size: number;
  kind: InboundKind;
  /** The account whose bounce subdomain received it. */
  account_id: string | null;
  /** The recipient the VERP address named, when it exists and belongs to the account. */
  recipient_id: string | null;
  /** JSON of the parsed report (actions, statuses, diagnostics), null when there is none. */
  report_json: string | null;
  /** What was done with it, or why it could not be used. */
  outcome: string;
  /**
   * The message as received, possibly cut at the keep limit, sealed with the master key
   * (src/secrets/sealed-content.ts); null when not kept.
   */
  raw_sealed: string | null;
  raw_truncated: number;
  /** Bytes of the message kept in `raw_sealed` (before sealing); 0 when not kept. Counts toward SECUREMAIL_MX_STORE_BYTES. */
  raw_bytes: number;
}

export type SuppressionReason = 'hard_bounce' | 'manual';

export interface SuppressionsTable {
  account_id: string;
  /** Lower-case; suppression compares addresses case-insensitively. */
  address: string;
  reason: SuppressionReason;
  /** The remote diagnostic of the bounce, or the note given with a manual entry. */
  detail: string | null;
  /** The recipient whose bounce caused the entry. */
  recipient_id: string | null;
  created_at: number;
}

export type WebhookState = 'active' | 'disabled';

export interface WebhooksTable {
  id: string;
  /** One endpoint per account. */
  account_id: string;
  url: string;
  /** JSON array of event types. */
  events: string;
  /** The signing secret, sealed with the master key (base64). */
  secret_sealed: string;
  /** The secret before the last rotation; also signs until `previous_secret_until`. */
  previous_secret_sealed: string | null;
  previous_secret_until: number | null;
  state: WebhookState;
  /** Since when every delivery failed; null after a success. */
  failing_since: number | null;
  last_error: string | null;
  last_success_at: number | null;
  disabled_at: number | null;
  created_at: number;
  updated_at: number;
}

export type WebhookEventState = 'pending' | 'delivered' | 'failed' | 'dropped';

export interface WebhookEventsTable {
  id: string;
  account_id: string;
  /** Events with the same key are delivered one after the other: `recipient:<id>`, `domain:<account id>`. */
  ordering_key: string;
  /** Position within the ordering key. */
  seq: number;
  type: string;
  /** The JSON body that is posted (and signed). */
  payload: string;
  state: WebhookEventState;
  attempts: number;
  next_attempt_at: number;
  lease_owner: string | null;
  lease_until: number | null;
  last_error: string | null;
  created_at: number;
  finished_at: number | null;
}

export interface InboundTables {
  inbound_messages: InboundMessagesTable;
  suppressions: SuppressionsTable;
  webhooks: WebhooksTable;
  webhook_events: WebhookEventsTable;
}
