// Row types of the message tables.

import { randomUUIDv7 } from 'node:crypto';
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

/**
 * A recipient row as it is accepted: queued and due now, or already final as `suppressed`.
 * Submission, notifications and the benchmark all make their rows here.
 */
export function newRecipientRow(
  messageId: string,
  address: string,
  now: number,
  suppressedDetail?: string,
): RecipientsTable {
  const suppressed = suppressedDetail !== undefined;
  return {
    // Row ids of the busy tables (messages, recipients, attempts, session evidence, webhook
    // events, inbound messages) are time-ordered UUIDs (RFC 9562 version 7): a new row's key
    // lands at the right edge of its index instead of on a random page, and so do the
    // indexes that refer to it (attempts by recipient). Random ids made each outcome commit
    // rewrite about 48 pages of 4 KB (199 KB for 6 outcomes). 74 bits stay random: a VERP
    // address (bounce+<recipient id>@...) is as hard to guess as before in practice.
    id: randomUUIDv7(),
    message_id: messageId,
    address,
    domain: address.slice(address.lastIndexOf('@') + 1).toLowerCase(),
    status: suppressed ? 'suppressed' : 'queued',
    attempts: 0,
    next_attempt_at: now,
    lease_owner: null,
    lease_until: null,
    reason: suppressed ? 'suppressed' : null,
    detail: suppressedDetail ?? null,
    created_at: now,
    updated_at: now,
    final_at: suppressed ? now : null,
  };
}
