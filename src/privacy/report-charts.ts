// The report's charts, where a reader would rather look than read: how delivered mail was
// authenticated, over which TLS versions, how attempts ended, and why recipients were
// refused. One model per chart (horizontal bars), drawn as SVG for the HTML report here and
// with the same numbers by report-pdf.ts, so the two can only differ in ink.

import type { Report } from './report.ts';

export interface Bar {
  label: string;
  value: number;
  color: string;
}

export interface Chart {
  title: string;
  bars: Bar[];
}

// Colour-blind-safe (Okabe-Ito); one meaning per colour across the charts.
const GOOD = '#009e73';
const BAD = '#d55e00';
const WAIT = '#e69f00';
const INFO = '#0072b2';
const GREY = '#999999';

const VERDICT_COLOR: Record<string, string> = {
  deliver: GOOD,
  refuse: BAD,
  defer: WAIT,
  bounce: '#cc79a7',
  fail: GREY,
};

export function reportCharts(report: Report): Chart[] {
  return [
    {
      title: 'Delivered attempts by authentication of the receiving server',
      bars: Object.entries(report.delivered.by_method).map(([label, value]) => ({
        label,
        value,
        color: label === 'unknown' ? GREY : GOOD,
      })),
    },
    {
      title: 'Delivered attempts by TLS version',
      bars: Object.entries(report.delivered.by_tls_version).map(([label, value]) => ({
        label,
        value,
        color: label === 'unknown' ? GREY : INFO,
      })),
    },
    {
      title: 'Delivery attempts by outcome',
      bars: Object.entries(report.attempts.by_verdict).map(([label, value]) => ({
        label,
        value,
        color: VERDICT_COLOR[label] ?? GREY,
      })),
    },
    {
      title: 'Refused as insecure, by reason',
      bars: report.refused_insecure.by_reason.map((r) => ({
        label: r.reason,
        value: r.attempts,
        color: BAD,
      })),
    },
  ];
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A horizontal bar chart as an SVG element, sized for a report column. */
export function chartSvg(chart: Chart): string {
  const rowHeight = 22;
  const labelWidth = 190;
  const barWidth = 300;
  const top = 26;
  const bars = chart.bars.length === 0 ? [{ label: '(none)', value: 0, color: GREY }] : chart.bars;
  const max = Math.max(1, ...bars.map((b) => b.value));
  const height = top + bars.length * rowHeight + 6;
  const rows = bars.map((bar, i) => {
    const y = top + i * rowHeight;
    const w = Math.round((bar.value / max) * barWidth);
    return (
      `<text x="${labelWidth - 8}" y="${y + 15}" text-anchor="end">${escapeHtml(bar.label)}</text>` +
      `<rect x="${labelWidth}" y="${y + 3}" width="${w}" height="${rowHeight - 6}" fill="${bar.color}"/>` +
      `<text x="${labelWidth + w + 6}" y="${y + 15}">${bar.value}</text>`
    );
  });
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" role="img" width="${labelWidth + barWidth + 60}" height="${height}" ` +
    `viewBox="0 0 ${labelWidth + barWidth + 60} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">` +
    `<title>${escapeHtml(chart.title)}</title>` +
    `<text x="0" y="14" font-weight="bold">${escapeHtml(chart.title)}</text>${rows.join('')}</svg>`
  );
}
