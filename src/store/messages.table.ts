// Row types of the message tables.

import type { RecipientStatus } from '../vocabulary/recipient-statuses.ts';
import type { AttemptVerdict } from '../vocabulary/verdicts.ts';

export interface MessagesTable {
  id: string;
  client_id: string;
  account_id: string;
  kind: 'message' | 'notification';
  sender: string;
  message_id_header: string;
  /** The Subject sealed with the master key (src/secrets/sealed-content.ts); null without one. */
  subject_sealed: string | null;
  content_hash: string;
  size: number;
  body_sealed: string | null;
  require_tls: number;
  recipient_count: number;
  response_json: string;
  created_at: number;
  completed_at: number | null;
}

export interface RecipientsTable {
  id: string;
  message_id: string;
  address: string;
  domain: string;
  status: RecipientStatus;
  attempts: number;
  next_attempt_at: number;
  lease_owner: string | null;
  lease_until: number | null;
  reason: string | null;
  detail: string | null;
  created_at: number;
  updated_at: number;
  final_at: number | null;
}

export interface AttemptsTable {
  id: string;
  recipient_id: string;
  started_at: number;
  ended_at: number;
  verdict: AttemptVerdict;
  reason: string | null;
  mx_host: string | null;
  reply: string | null;
  /** The attempt's own evidence; with session_evidence_id, the rest is in that row. */
  evidence_json: string;
  session_evidence_id: string | null;
}

/** Evidence shared by the attempts of one session (session-evidence.migration.ts). */
export interface SessionEvidenceTable {
  id: string;
  evidence_json: string;
  created_at: number;
}

/**
 * An attempt's whole evidence: its own members, then those of the session evidence it
 * refers to. Both are JSON objects; joined as text, so an export reads exactly what was
 * written.
 */
export function joinEvidence(own: string, shared: string | null | undefined): string {
  if (shared == null) return own;
  if (own.trim() === '{}') return shared;
  if (shared.trim() === '{}') return own;
  return `${own.slice(0, own.lastIndexOf('}'))},${shared.slice(shared.indexOf('{') + 1)}`;
}

export interface AccountUsageTable {
  account_id: string;
  day: number;
  messages: number;
}

export interface MessageTables {
  messages: MessagesTable;
  recipients: RecipientsTable;
  attempts: AttemptsTable;
  session_evidence: SessionEvidenceTable;
  account_usage: AccountUsageTable;
}
