// The evidence export of an account: every attempt in a time range with its whole record
// (JSON) or one summary line each (CSV), as GET /account/evidence answers it for an auditor.

import type { Db } from '../store/database.ts';
import { type EvidenceRow, listEvidence } from '../store/messages.repository.ts';
import { summariseEvidence } from './summary.ts';

/** The account's attempts in [from, to), oldest first, at most `limit`. */
export function listAccountEvidence(
  db: Db,
  accountId: string,
  from: number,
  to: number,
  limit: number,
): Promise<EvidenceRow[]> {
  return listEvidence(db, accountId, from, to, limit);
}

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
    const { summary: e, ...base } = attemptFields(r);
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
