// The table at the end of a run, as a person reads it: one row per fault and database, the
// numbers that matter, short notes, and ok / FAIL / SKIPPED.

import type { FaultRow } from '../types.ts';

const HEADERS = [
  'fault',
  'database',
  'runs',
  'recipients',
  'lost',
  'duplicated (bound)',
  'peak MiB',
  'ok',
  'notes',
];

export function rowVerdict(row: FaultRow): 'ok' | 'FAIL' | 'SKIPPED' {
  if (row.skipped !== undefined) return 'SKIPPED';
  return row.ok ? 'ok' : 'FAIL';
}

export function formatTable(rows: readonly FaultRow[]): string {
  const cells = rows.map((r) => [
    r.fault,
    r.database,
    String(r.runs),
    r.recipients.toLocaleString('en-US'),
    String(r.lost),
    `${r.duplicated} (${r.duplicateBound})`,
    r.peakRssMiB === undefined ? '-' : r.peakRssMiB.toFixed(0),
    rowVerdict(r),
    notesOf(r),
  ]);
  const widths = HEADERS.map((h, i) =>
    Math.max(5, h.length, ...cells.map((c) => (i === HEADERS.length - 1 ? 0 : c[i]!.length))),
  );
  const line = (values: string[]) =>
    values
      .map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(HEADERS), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

/** The same rows as a Markdown table, for docs/reliability.md. */
export function formatMarkdown(rows: readonly FaultRow[]): string {
  const head = `| ${HEADERS.join(' | ')} |\n|${HEADERS.map(() => ' --- ').join('|')}|`;
  const body = rows.map(
    (r) =>
      `| ${r.fault} | ${r.database} | ${r.runs} | ${r.recipients.toLocaleString('en-US')} | ${r.lost} | ${r.duplicated} (${r.duplicateBound}) | ${r.peakRssMiB === undefined ? '-' : r.peakRssMiB.toFixed(0)} | ${rowVerdict(r)} | ${notesOf(r)} |`,
  );
  return [head, ...body].join('\n');
}

/** The skip reason, the count of 202s for what was not stored (always shown: it must be 0), the notes. */
function notesOf(r: FaultRow): string {
  const falseAccepts = r.falseAccepts === undefined ? [] : [`false 202s ${r.falseAccepts}`];
  return [...(r.skipped !== undefined ? [r.skipped] : []), ...falseAccepts, ...r.notes].join('; ');
}
