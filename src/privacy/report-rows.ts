// The label/value rows the HTML and the PDF report both print, kept in one place so the two
// renderings cannot drift apart in wording or in what they count.

import type { Report } from './report.ts';

export type ReportRow = [label: string, value: string | number];

export function keyFigures(report: Report): ReportRow[] {
  return [
    ['Messages accepted', report.accepted.messages],
    ['Recipients accepted', report.accepted.recipients],
    ['Delivery attempts (evidence export rows)', report.attempts.total],
    ['Messages with an attempt', report.messages_attempted],
    ['Recipients with an attempt', report.recipients_attempted],
    ['Delivered recipients', report.delivered.recipients],
    ['Refused as insecure (attempts)', report.refused_insecure.attempts],
    ['Bounced in the session', report.bounced.in_session],
    ['Bounced after delivery (reported)', report.bounced.reported_after_delivery],
    ['Suppressed at submission', report.suppressions.recipients_suppressed_at_submission],
    ['Suppression list entries at the end', report.suppressions.on_list],
    ['Erasures of a data subject', report.erasures],
  ];
}

export function settingsInForce(report: Report): ReportRow[] {
  const retention = report.settings.retention_days;
  return [
    ['Policy level', report.settings.policy_level],
    ['Retry window (hours)', report.settings.retry_window_hours],
    ['Message bodies kept after completion (days)', retention.message_bodies],
    ['Subjects kept after completion (days)', retention.subjects],
    ['Evidence kept after completion (days)', retention.evidence],
    ['Bounces received kept (days)', retention.bounces_received],
    ['Webhook events kept (days)', retention.webhook_events],
    ['Account notices kept (days)', retention.account_notices],
  ];
}

/** Said after the attempt count when the evidence export behind the report was cut short. */
export function truncationNote(report: Report): string {
  return report.evidence.export_truncated
    ? ' (the export answers the first 50,000: split the period to check the rest)'
    : '';
}
