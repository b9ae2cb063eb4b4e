// The auditor's report as one self-contained HTML page (no scripts, no external files): the
// figures as tables, the charts as inline SVG, and the SHA-256 of the JSON it renders, so a
// printout can be traced to GET /account/report?format=json and from there to the evidence.

import { type Report, reportDigest } from './report.ts';
import { chartSvg, reportCharts } from './report-charts.ts';
import { keyFigures, type ReportRow, settingsInForce, truncationNote } from './report-rows.ts';

const escapeHtml = (text: string | number) =>
  String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function table(rows: ReportRow[]): string {
  return `<table>${rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('')}</table>`;
}

export function reportHtml(report: Report, generatedAt: Date): string {
  const refusals = report.refused_insecure.by_reason
    .map(
      (r) =>
        `<tr><td>${escapeHtml(r.reason)}</td><td>${r.attempts}</td><td>${escapeHtml(r.domains.map((d) => `${d.domain} (${d.attempts})`).join(', '))}</td><td>${escapeHtml(r.explanation ?? '')}</td></tr>`,
    )
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>SecureMail report ${escapeHtml(report.domain)} ${escapeHtml(report.from)} to ${escapeHtml(report.to)}</title>
<style>
body{font-family:Helvetica,Arial,sans-serif;max-width:960px;margin:2em auto;color:#222;line-height:1.4}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4;font-weight:normal}.charts{display:flex;flex-wrap:wrap;gap:1.5em}code{font-size:.85em;word-break:break-all}
</style></head><body>
<h1>Secure delivery report: ${escapeHtml(report.domain)}</h1>
<p>Period ${escapeHtml(report.from)} up to ${escapeHtml(report.to)} (UTC). Generated ${escapeHtml(generatedAt.toISOString())}.</p>
<h2>Key figures</h2>
${table(keyFigures(report))}
<h2>Charts</h2>
<div class="charts">${reportCharts(report).map(chartSvg).join('\n')}</div>
<h2>Refused as insecure</h2>
<table><tr><th>Reason</th><th>Attempts</th><th>Recipient domains</th><th>What it means</th></tr>${refusals || '<tr><td colspan="4">none</td></tr>'}</table>
<h2>Settings in force</h2>
${table(settingsInForce(report))}
<h2>Verification</h2>
<p>SHA-256 of this report's JSON (the same query with <code>format=json</code>):<br><code>${reportDigest(report)}</code></p>
<p>Counted from the evidence export <code>${escapeHtml(report.evidence.export)}</code>, ${report.evidence.attempts} attempts${truncationNote(report)}, SHA-256 of its answer:<br><code>${report.evidence.sha256}</code></p>
</body></html>
`;
}
