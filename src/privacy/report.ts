// The auditor's report of one account for one period (GET /account/report, `securemail
// report`): how many messages and recipients, how each delivered recipient's server was
// authenticated (DANE, MTA-STS, PKIX) and over which TLS version, how many were refused as
// insecure and why (per reason, with the recipient domains), bounces, suppressions, erasures,
// and the settings in force. JSON first; the HTML and PDF (report-html.ts, report-pdf.ts)
// render this JSON and nothing else.
//
// Traceable: every attempt figure is counted from the evidence export itself, read page by
// page with the export's own query and serialised with the export's own pieces
// (src/evidence/export.ts), and `evidence.sha256` is the SHA-256 of the body GET
// /account/evidence answers for the same domain, from and to. The report's JSON has no
// time of its own, so the same query gives the same bytes: the PDF prints their SHA-256.

import { createHash } from 'node:crypto';
import {
  EVIDENCE_EXPORT_LIMIT,
  evidenceJsonText,
  listAccountEvidence,
} from '../evidence/export.ts';
import { summariseEvidence } from '../evidence/summary.ts';
import type { Db } from '../store/database.ts';
import type { EvidenceRow } from '../store/messages.repository.ts';
import {
  acceptedInPeriod,
  countEvidence,
  erasuresInPeriod,
  suppressionFigures,
} from '../store/report.repository.ts';
import type { Account } from '../store/schema.ts';
import { reasonInfo } from '../vocabulary/reasons.ts';

const DAY_MS = 86_400_000;
const PAGE = 1000;
/** Attempt verdicts, in the order the report shows them. */
const VERDICTS = ['deliver', 'refuse', 'defer', 'bounce', 'fail'] as const;
const METHODS = ['dane', 'mta-sts', 'pkix'] as const;

/** The settings in force, as the report states them. */
export interface ReportSettings {
  bodyRetentionMs: number;
  subjectRetentionMs: number;
  evidenceRetentionMs: number;
  inboundRetentionDays: number;
  webhookEventRetentionMs: number;
  noticeRetentionMs: number;
  retryWindowMs: number;
}

export interface ReportPeriod {
  from: number;
  /** Exclusive. */
  to: number;
}

const count = () => new Map<string, number>();
const add = (m: Map<string, number>, key: string, n = 1) => m.set(key, (m.get(key) ?? 0) + n);
/** A count map as an object, most first, then by name: the same data gives the same JSON. */
const ranked = (m: Map<string, number>) =>
  Object.fromEntries([...m].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])));

export async function buildReport(
  deps: { db: Db },
  account: Account,
  period: ReportPeriod,
  settings: ReportSettings,
) {
  const { db } = deps;
  const from = new Date(period.from).toISOString();
  const to = new Date(period.to).toISOString();

  const total = await countEvidence(db, account.id, period.from, period.to);
  const truncated = total > EVIDENCE_EXPORT_LIMIT;
  const hash = createHash('sha256');
  hash.update(evidenceJsonText.head({ domain: account.domain, from, to, truncated }));

  const verdicts = new Map<string, number>(VERDICTS.map((v) => [v, 0]));
  const messages = new Set<string>();
  const recipients = new Set<string>();
  const delivered = new Set<string>();
  const methods = new Map<string, number>(METHODS.map((m) => [m, 0]));
  const versions = count();
  const refusals = new Map<string, Map<string, number>>();
  const bouncedLater = new Set<string>();
  let attempts = 0;
  for (let after: EvidenceRow | undefined; ; ) {
    const page = await listAccountEvidence(db, account.id, period.from, period.to, PAGE, after);
    for (const row of page) {
      // The first EVIDENCE_EXPORT_LIMIT rows are what the export answers; the figures count all.
      if (attempts < EVIDENCE_EXPORT_LIMIT) {
        if (attempts > 0) hash.update(evidenceJsonText.separator);
        hash.update(evidenceJsonText.record(row));
      }
      attempts++;
      add(verdicts, row.verdict);
      messages.add(row.messageId);
      recipients.add(row.recipientId);
      if (row.verdict === 'deliver') {
        delivered.add(row.recipientId);
        const summary = summariseEvidence(row.evidenceJson);
        add(methods, summary.authentication ?? 'unknown');
        add(versions, summary.tls_version ?? 'unknown');
        // Delivered, then a bounce report came back (the export shows the state now).
        if (row.status === 'bounced') bouncedLater.add(row.recipientId);
      } else if (row.verdict === 'refuse') {
        const reason = row.reason ?? 'unknown';
        const domains = refusals.get(reason) ?? count();
        add(domains, row.recipient.slice(row.recipient.lastIndexOf('@') + 1));
        refusals.set(reason, domains);
      }
    }
    if (page.length < PAGE) break;
    after = page.at(-1);
  }
  hash.update(evidenceJsonText.tail);

  const accepted = await acceptedInPeriod(db, account.id, period.from, period.to);
  const suppressions = await suppressionFigures(db, account.id, period.from, period.to);
  const days = (ms: number) => Math.round(ms / DAY_MS);

  return {
    report: 'SecureMail auditor report, version 1',
    domain: account.domain,
    from,
    to,
    settings: {
      policy_level: account.policy_level,
      retry_window_hours: Math.round(settings.retryWindowMs / 3_600_000),
      retention_days: {
        message_bodies: days(settings.bodyRetentionMs),
        subjects: days(settings.subjectRetentionMs),
        evidence: days(settings.evidenceRetentionMs),
        bounces_received: settings.inboundRetentionDays,
        webhook_events: days(settings.webhookEventRetentionMs),
        account_notices: days(settings.noticeRetentionMs),
      },
    },
    evidence: {
      // ISO times need no escaping in a query string: the URL reads as it is meant.
      export: `GET /account/evidence?domain=${account.domain}&from=${from}&to=${to}&format=json`,
      attempts,
      export_truncated: truncated,
      sha256: hash.digest('hex'),
    },
    attempts: { total: attempts, by_verdict: Object.fromEntries(verdicts) },
    messages_attempted: messages.size,
    recipients_attempted: recipients.size,
    delivered: {
      attempts: verdicts.get('deliver') ?? 0,
      recipients: delivered.size,
      by_method: ranked(methods),
      by_tls_version: ranked(versions),
    },
    refused_insecure: {
      attempts: verdicts.get('refuse') ?? 0,
      by_reason: [...refusals]
        .map(([reason, domains]) => ({
          reason,
          explanation: reasonInfo(reason)?.explanation ?? null,
          attempts: [...domains.values()].reduce((a, b) => a + b, 0),
          domains: Object.entries(ranked(domains)).map(([domain, n]) => ({
            domain,
            attempts: n,
          })),
        }))
        .sort((a, b) => b.attempts - a.attempts || a.reason.localeCompare(b.reason)),
    },
    bounced: {
      in_session: verdicts.get('bounce') ?? 0,
      reported_after_delivery: bouncedLater.size,
    },
    accepted: {
      messages: accepted.messages,
      recipients: Object.values(accepted.byStatus).reduce((a, b) => a + b, 0),
      by_status: ranked(new Map(Object.entries(accepted.byStatus))),
    },
    suppressions: {
      recipients_suppressed_at_submission: accepted.byStatus.suppressed ?? 0,
      added_to_list: ranked(new Map(Object.entries(suppressions.added))),
      on_list: suppressions.listed,
    },
    erasures: await erasuresInPeriod(db, account.id, period.from, period.to),
  };
}

export type Report = Awaited<ReturnType<typeof buildReport>>;

/** The report as JSON text: the bytes GET /account/report?format=json answers. */
export function reportJson(report: Report): string {
  return JSON.stringify(report);
}

/** The SHA-256 (hex) of the report's JSON text, as the HTML and the PDF print it. */
export function reportDigest(report: Report): string {
  return createHash('sha256').update(reportJson(report)).digest('hex');
}
