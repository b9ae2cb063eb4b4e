// The evidence export of an account: every attempt in a time range with its whole record
// (JSON) or one summary line each (CSV), as GET /account/evidence answers it for an auditor.

import type { Db } from '../store/database.ts';
import { type EvidenceRow, listEvidence } from '../store/messages.repository.ts';
import { summariseEvidence } from './summary.ts';

/** Attempts in one export at most; a larger range is split by the caller (the answer says so). */
export const EVIDENCE_EXPORT_LIMIT = 50_000;

/**
 * The account's attempts in [from, to), oldest first, at most `limit`; with `after` (the last
 * row of the previous page), the page after it.
 */
export function listAccountEvidence(
  db: Db,
  accountId: string,
  from: number,
  to: number,
  limit: number,
  after?: EvidenceRow,
): Promise<EvidenceRow[]> {
  return listEvidence(
    db,
    accountId,
    from,
    to,
    limit,
    after === undefined ? undefined : { startedAt: after.startedAt, attemptId: after.attemptId },
  );
}

/** The JSON export's envelope: what GET /account/evidence says before and after the attempts. */
export interface EvidenceExportHead {
  domain: string;
  from: string;
  to: string;
  truncated: boolean;
}

/**
 * The JSON export as text, in pieces: `head`, then each record (comma-separated), then `tail`.
 * GET /account/evidence sends exactly these pieces joined, and the auditor's report
 * (src/privacy/report.ts) hashes the same pieces page by page without holding the whole
 * export, so its SHA-256 is the SHA-256 of what the export answers.
 */
export const evidenceJsonText = {
  head: (h: EvidenceExportHead) =>
    `${JSON.stringify({ domain: h.domain, from: h.from, to: h.to, truncated: h.truncated }).slice(0, -1)},"attempts":[`,
  record: (row: EvidenceRow) => JSON.stringify(evidenceJsonRecords([row])[0]),
  separator: ',',
  tail: ']}',
};

const CSV_COLUMNS = [
  'attempt_id',
  'message',
  'message_id',
  'recipient',
  'recipient_status',
  'started_at',
  'ended_at',
  'verdict',
  'reason',
  'mx_host',
  'ip',
  'authentication',
  'tls_version',
  'cipher',
  'key_exchange',
  'certificate_sha256',
  'certificate_issuer',
  'dnssec_mx',
  'mta_sts',
  'reply',
  'hosts_tried',
] as const;

/** The JSON form: each attempt's fields with its whole evidence record. */
export function evidenceJsonRecords(rows: readonly EvidenceRow[]) {
  return rows.map((r) => ({ ...attemptFields(r), evidence: safeParse(r.evidenceJson) }));
}

/** The CSV form: a header line, then one line per attempt (CRLF, RFC 4180). */
export function evidenceCsv(rows: readonly EvidenceRow[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const r of rows) {
    const { summary: e, recipient_id: _id, ...base } = attemptFields(r);
    const values: Record<(typeof CSV_COLUMNS)[number], string | null> = {
      ...base,
      ...e,
      hosts_tried: e.hosts_tried.join('; '),
    };
    lines.push(CSV_COLUMNS.map((c) => csvField(values[c])).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

/** One attempt's fields, shared by the JSON and the CSV form. */
function attemptFields(r: EvidenceRow) {
  return {
    attempt_id: r.attemptId,
    message: r.messageId,
    message_id: r.messageIdHeader,
    recipient: r.recipient,
    recipient_id: r.recipientId,
    recipient_status: r.status,
    started_at: new Date(r.startedAt).toISOString(),
    ended_at: new Date(r.endedAt).toISOString(),
    verdict: r.verdict,
    reason: r.reason,
    reply: r.reply,
    summary: summariseEvidence(r.evidenceJson),
  };
}

/** RFC 4180 quoting; a leading =, +, - or @ is prefixed so a spreadsheet never runs it as a formula. */
function csvField(value: string | null): string {
  if (value === null) return '';
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

function safeParse(json: string): unknown {
  try {
    return JSON.parse(json);
  } catch {
    return json;
  }
}
