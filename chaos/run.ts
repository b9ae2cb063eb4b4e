// `npm run chaos`: the fault suite (issue 15, "Nothing lost under faults"). Real `serve`
// processes, the real SQLite file and a real PostgreSQL, the test DNS server and an SMTP
// sink with real TLS in this process, and faults injected from outside the service where
// that is how they happen in life (SIGKILL, pg_ctl stop, a full filesystem). One table row
// per fault and database; exit code 1 when any row fails.
//
//   npm run chaos                     the long version (docs/reliability.md has its numbers)
//   npm run chaos -- --short          the CI version: same faults and checks, fewer recipients
//   npm run chaos -- --list           the faults and what each does
//   npm run chaos -- kill disk-full   only these
//   npm run chaos -- --keep           keep the work dirs (logs of every process, databases)
//   npm run chaos -- --markdown       the table also in Markdown, for docs/reliability.md
//
// PostgreSQL rows use TEST_DATABASE_URL (or DATABASE_URL); without either they are skipped.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { FAULTS } from './faults/index.ts';
import { cleanupAll, cleanupAllSync } from './harness/cleanup.ts';
import { formatMarkdown, formatTable, rowVerdict } from './harness/table.ts';
import type { ChaosContext, FaultRow } from './types.ts';

const { values, positionals } = parseArgs({
  args: process.argv.slice(2),
  allowPositionals: true,
  options: {
    short: { type: 'boolean', default: false },
    list: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    markdown: { type: 'boolean', default: false },
  },
});

if (values.list) {
  const width = Math.max(...FAULTS.map((f) => f.name.length));
  for (const f of FAULTS) console.log(`${f.name.padEnd(width)}  ${f.describe}`);
  process.exit(0);
}

const unknown = positionals.filter((name) => !FAULTS.some((f) => f.name === name));
if (unknown.length > 0) {
  console.error(
    `chaos: unknown fault ${unknown.join(', ')}; faults are ${FAULTS.map((f) => f.name).join(', ')}`,
  );
  process.exit(2);
}
const chosen =
  positionals.length === 0 ? FAULTS : FAULTS.filter((f) => positionals.includes(f.name));
const postgresUrl = process.env.TEST_DATABASE_URL || process.env.DATABASE_URL || undefined;

// Whatever happens, no process, mount or cluster of the suite outlives it.
process.on('exit', cleanupAllSync);
let interrupted = false;
let currentWorkDir: string | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\nchaos: ${signal}: cleaning up (work dir kept: ${currentWorkDir ?? '-'})`);
    void cleanupAll().finally(() => process.exit(130));
  });
}

const started = Date.now();
const rows: FaultRow[] = [];
const kept: string[] = [];
const stamp = () => `${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s`;
console.log(
  `chaos: ${chosen.map((f) => f.name).join(', ')} (${values.short ? 'short' : 'long'}), PostgreSQL ${postgresUrl === undefined ? 'not set: its rows are skipped' : 'from TEST_DATABASE_URL'}`,
);
for (const fault of chosen) {
  const workDir = mkdtempSync(path.join(tmpdir(), `securemail-chaos-${fault.name}-`));
  currentWorkDir = workDir;
  const context: ChaosContext = {
    short: values.short,
    postgresUrl,
    workDir,
    log: (line) => console.log(`${stamp()}  ${line}`),
  };
  const faultStarted = Date.now();
  let faultRows: FaultRow[];
  try {
    faultRows = await fault.run(context);
  } catch (error) {
    // A fault that cannot finish is a failed row, with why; the suite goes on.
    const message = error instanceof Error ? error.message : String(error);
    context.log(`${fault.name}: FAILED: ${message}`);
    faultRows = [
      {
        fault: fault.name,
        database: '-',
        runs: 0,
        recipients: 0,
        lost: 0,
        duplicated: 0,
        duplicateBound: 0,
        notes: [`error: ${message.split('\n')[0]!.slice(0, 300)}`],
        ok: false,
      },
    ];
  }
  await cleanupAll();
  const seconds = Math.round((Date.now() - faultStarted) / 1000);
  for (const row of faultRows) context.log(`${fault.name}/${row.database}: ${rowVerdict(row)}`);
  context.log(`${fault.name}: ${faultRows.length} row(s) in ${seconds} s`);
  rows.push(...faultRows);
  const failed = faultRows.some((r) => rowVerdict(r) === 'FAIL');
  if (values.keep || failed) kept.push(workDir);
  else rmSync(workDir, { recursive: true, force: true });
}

console.log(`\n${formatTable(rows)}\n`);
if (values.markdown) console.log(`${formatMarkdown(rows)}\n`);
console.log(`${rows.length} rows in ${Math.round((Date.now() - started) / 1000)} s`);
if (kept.length > 0) console.log(`work dirs kept (logs, databases): ${kept.join(' ')}`);
process.exitCode = rows.some((r) => rowVerdict(r) === 'FAIL') ? 1 : 0;
