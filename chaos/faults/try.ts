// A dev aid until the suite's runner (chaos/run.ts) exists, and after it for one module:
// runs the network faults of issue 15 and prints their rows.
//
//   npx node chaos/faults/try.ts <name> [--short]
//
// <name>: dns-outage, server-drop, server-stall, server-faults (both), slow-clients,
// large-message, or all. The work directory is removed after a passing run.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Fault, FaultRow } from '../types.ts';
import { fault as dnsOutage } from './dns-outage.ts';
import { fault as largeMessage } from './large-message.ts';
import { serverDrop, fault as serverFaults, serverStall } from './server-faults.ts';
import { fault as slowClients } from './slow-clients.ts';

const FAULTS: Record<string, Fault> = {
  'dns-outage': dnsOutage,
  'server-drop': serverDrop,
  'server-stall': serverStall,
  'server-faults': serverFaults,
  'slow-clients': slowClients,
  'large-message': largeMessage,
};

const args = process.argv.slice(2);
const short = args.includes('--short');
const name = args.find((a) => !a.startsWith('--')) ?? '';
const chosen =
  name === 'all' ? [dnsOutage, serverFaults, slowClients, largeMessage] : [FAULTS[name]];
if (chosen.some((f) => f === undefined)) {
  console.error(
    `usage: npx node chaos/faults/try.ts <${[...Object.keys(FAULTS), 'all'].join('|')}> [--short]`,
  );
  process.exit(2);
}

const rows: FaultRow[] = [];
for (const f of chosen as Fault[]) {
  const workDir = mkdtempSync(path.join(tmpdir(), `chaos-${f.name}-`));
  const started = Date.now();
  const got = await f.run({
    short,
    postgresUrl: undefined,
    workDir,
    log: (line) => console.error(`  ${line}`),
  });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.error(`${f.name}: ${seconds} s`);
  rows.push(...got);
  if (got.every((r) => r.ok)) rmSync(workDir, { recursive: true, force: true });
  else console.error(`${f.name}: kept ${workDir}`);
}
console.log(
  '| fault | db | runs | recipients | lost | duplicated | bound | peak RSS MiB | ok | notes |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of rows) {
  console.log(
    `| ${r.fault} | ${r.database} | ${r.runs} | ${r.recipients} | ${r.lost} | ${r.duplicated} | ${r.duplicateBound} | ${r.peakRssMiB ?? '-'} | ${r.ok ? 'yes' : 'NO'} | ${r.notes.join('; ')} |`,
  );
}
process.exit(rows.every((r) => r.ok) ? 0 : 1);
