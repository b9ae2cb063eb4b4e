// The auditor's report as a PDF, made with pdfkit (MIT, maintained, pure JavaScript: no
// browser at run time; pinned in package.json). It renders the report's JSON only: the key
// figures, the same charts as the HTML (report-charts.ts, drawn as vector bars), the refusals
// with their domains, the settings in force, and on every page the SHA-256 of that JSON, so a
// figure on paper can be traced to GET /account/report?format=json and, through its
// `evidence.sha256`, to the evidence export. Standard PDF fonts: text stays extractable
// (pdftotext reads the figures back in the tests).

import PDFDocument from 'pdfkit';
import { type Report, reportDigest } from './report.ts';
import { type Chart, reportCharts } from './report-charts.ts';
import { keyFigures, type ReportRow, settingsInForce, truncationNote } from './report-rows.ts';

const MARGIN = 50;
const WIDTH = 595.28 - 2 * MARGIN; // A4

export function reportPdf(report: Report, generatedAt: Date): Promise<Buffer> {
  const digest = reportDigest(report);
  const doc = new PDFDocument({
    size: 'A4',
    margin: MARGIN,
    bufferPages: true,
    info: {
      Title: `SecureMail report ${report.domain} ${report.from} to ${report.to}`,
      Subject: `SHA-256 of the report JSON: ${digest}`,
      Creator: 'SecureMail',
      CreationDate: generatedAt,
    },
  });
  const chunks: Buffer[] = [];
  doc.on('data', (chunk: Buffer) => chunks.push(chunk));
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });

  doc.font('Helvetica-Bold').fontSize(18).text(`Secure delivery report: ${report.domain}`);
  doc.font('Helvetica').fontSize(10).fillColor('#444');
  doc.text(
    `Period ${report.from} up to ${report.to} (UTC). Generated ${generatedAt.toISOString()}.`,
  );
  doc.fillColor('#000').moveDown();

  heading(doc, 'Key figures');
  pairs(doc, keyFigures(report));

  for (const chart of reportCharts(report)) drawChart(doc, chart);

  heading(doc, 'Refused as insecure, per reason, with the recipient domains');
  if (report.refused_insecure.by_reason.length === 0) doc.text('None.');
  for (const r of report.refused_insecure.by_reason) {
    ensureRoom(doc, 40);
    doc.font('Helvetica-Bold').text(`${r.reason}: ${r.attempts}`);
    doc.font('Helvetica').text(r.domains.map((d) => `${d.domain} (${d.attempts})`).join(', '));
    if (r.explanation !== null) doc.fillColor('#444').text(r.explanation).fillColor('#000');
    doc.moveDown(0.5);
  }

  heading(doc, 'Settings in force');
  pairs(doc, settingsInForce(report));

  heading(doc, 'Verification');
  doc.text("SHA-256 of this report's JSON (the same query with format=json):");
  doc.font('Courier').fontSize(8).text(digest).font('Helvetica').fontSize(10);
  doc.moveDown(0.5);
  doc.text(
    `Counted from the evidence export ${report.evidence.export}, ${report.evidence.attempts} attempts` +
      `${truncationNote(report)}; SHA-256 of its answer:`,
  );
  doc.font('Courier').fontSize(8).text(report.evidence.sha256).font('Helvetica').fontSize(10);

  stampFooters(doc, report, digest);
  doc.end();
  return done;
}

type Doc = InstanceType<typeof PDFDocument>;

/** Every page carries the digest and its number. */
function stampFooters(doc: Doc, report: Report, digest: string): void {
  const range = doc.bufferedPageRange();
  for (let i = range.start; i < range.start + range.count; i++) {
    doc.switchToPage(i);
    // The footer sits in the bottom margin: without lifting it, pdfkit would start a new page.
    const bottom = doc.page.margins.bottom;
    doc.page.margins.bottom = 0;
    doc
      .font('Helvetica')
      .fontSize(7)
      .fillColor('#666')
      .text(
        `${report.domain} ${report.from} to ${report.to}. Page ${i + 1} of ${range.count}. Report JSON SHA-256 ${digest}`,
        MARGIN,
        doc.page.height - MARGIN + 15,
        { width: WIDTH, lineBreak: false },
      );
    doc.page.margins.bottom = bottom;
  }
}

function ensureRoom(doc: Doc, height: number): void {
  if (doc.y + height > doc.page.height - MARGIN - 20) doc.addPage();
}

function heading(doc: Doc, text: string): void {
  ensureRoom(doc, 60);
  doc.moveDown(0.5).font('Helvetica-Bold').fontSize(13).fillColor('#000').text(text);
  doc.font('Helvetica').fontSize(10).moveDown(0.3);
}

function pairs(doc: Doc, rows: ReportRow[]): void {
  for (const [label, value] of rows) {
    ensureRoom(doc, 16);
    const y = doc.y;
    doc.text(label, MARGIN, y, { width: WIDTH * 0.7 });
    doc.text(String(value), MARGIN + WIDTH * 0.7, y, { width: WIDTH * 0.3, align: 'right' });
    doc.x = MARGIN;
  }
  doc.moveDown(0.5);
}

/** The chart as horizontal bars with their labels and values (report-charts.ts's model). */
function drawChart(doc: Doc, chart: Chart): void {
  const rowHeight = 16;
  const labelWidth = 150;
  const barWidth = WIDTH - labelWidth - 50;
  const bars =
    chart.bars.length === 0 ? [{ label: '(none)', value: 0, color: '#999999' }] : chart.bars;
  ensureRoom(doc, 30 + bars.length * rowHeight);
  heading(doc, chart.title);
  const max = Math.max(1, ...bars.map((b) => b.value));
  let y = doc.y;
  for (const bar of bars) {
    const w = Math.max(0.5, (bar.value / max) * barWidth);
    doc
      .fillColor('#000')
      .fontSize(9)
      .text(bar.label, MARGIN, y + 3, {
        width: labelWidth - 8,
        align: 'right',
        lineBreak: false,
      });
    doc.rect(MARGIN + labelWidth, y + 2, w, rowHeight - 4).fill(bar.color);
    doc.fillColor('#000').text(String(bar.value), MARGIN + labelWidth + w + 5, y + 3, {
      lineBreak: false,
    });
    y += rowHeight;
  }
  doc.x = MARGIN;
  doc.y = y + 6;
  doc.fontSize(10);
}
