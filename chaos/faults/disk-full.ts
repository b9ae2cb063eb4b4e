// `disk-full`: the filesystem under the SQLite file fills up while the API accepts a paced
// bulk send and the worker delivers it. The file lives on a 32 MiB tmpfs (harness/disk.ts;
// mounting needs root: without it the row is SKIPPED, with the reason), and a filler file
// takes every free byte for some seconds, then is removed, as an operator freeing space
// would. The service is not restarted.
//
// Checks: while full, POST /message answers 503 (counted), never 202 for what was not
// stored and no other 5xx; the process keeps running; once space is back everything
// accepted is delivered (0 lost); the file passes `PRAGMA integrity_check` afterwards.

import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { sqliteDb } from '../harness/database.ts';
import { mountSmallDisk, type SmallDisk } from '../harness/disk.ts';
import { duplicateBound, ledgerRow, skippedRow, WORKER_BATCH } from '../harness/row.ts';
import { closeBooks, startScenario } from '../harness/scenario.ts';
import { Submitter } from '../harness/submit.ts';
import { sleep, waitUntil } from '../harness/wait.ts';
import { RECIPIENT_DOMAINS } from '../harness/world.ts';
import type { Fault, FaultRow } from '../types.ts';

const DISK_MIB = 32;
const RECIPIENTS_PER_MESSAGE = 50;

export const fault: Fault = {
  name: 'disk-full',
  describe: 'the filesystem of the SQLite file fills up during a bulk send, then space comes back',
  async run(context) {
    const fills = context.short ? 1 : 3;
    const fullMs = context.short ? 4000 : 8000;
    const messages = context.short ? 20 : 60;
    let disk: SmallDisk;
    try {
      disk = mountSmallDisk(path.join(context.workDir, 'disk'), DISK_MIB);
    } catch (error) {
      return [skippedRow('disk-full', 'sqlite', `cannot mount a tmpfs: ${firstLine(error)}`)];
    }
    try {
      return [await fullRow(context, disk, { fills, fullMs, messages })];
    } finally {
      await disk.unmount();
    }
  },
};

async function fullRow(
  context: Parameters<Fault['run']>[0],
  disk: SmallDisk,
  plan: { fills: number; fullMs: number; messages: number },
): Promise<FaultRow> {
  const db = sqliteDb(path.join(disk.dir, 'data'));
  context.log(`disk-full: SQLite on a ${DISK_MIB} MiB tmpfs; starting the service`);
  const scenario = await startScenario(
    context,
    db,
    [{ name: 'sqlite-service', roles: 'api,worker' }],
    {
      SECUREMAIL_WORKER_BATCH: String(WORKER_BATCH),
    },
  );
  const { fleet, world } = scenario;
  const [service] = fleet.members;
  let integrity = 'not checked';
  try {
    const submitter = new Submitter(fleet.apiUrl, scenario.sender, {
      messages: plan.messages,
      recipientsPerMessage: RECIPIENTS_PER_MESSAGE,
      recipientDomains: RECIPIENT_DOMAINS,
      inFlight: 2,
      deadlineMs: context.short ? 120_000 : 300_000,
      // Spread over the fills and beyond: requests arrive before, during and after each.
      paceMs: Math.round((plan.fills * (plan.fullMs + 3000) * 1.3) / (plan.messages / 2)),
    });
    const sending = submitter.run();
    let unavailableWhileFull = 0;
    let acceptedWhileFull = 0;
    let done = 0;
    const recovery: number[] = [];
    for (let i = 0; i < plan.fills; i++) {
      await sleep(1500);
      const before503 = submitter.unavailable;
      const bytes = disk.fill();
      const acceptedBefore = submitter.acceptedRecipients;
      context.log(
        `disk-full: filesystem full (filler took ${(bytes / 1048576).toFixed(1)} MiB) with ${acceptedBefore} accepted, ${world.receivedTotal()} at the sink; ${plan.fullMs / 1000} s`,
      );
      await sleep(plan.fullMs);
      // Requests answered while full that were accepted anyway: fine only if stored (the
      // ledger's falseAccepts says); counted to show whether the fill bit at all.
      acceptedWhileFull += submitter.acceptedRecipients - acceptedBefore;
      unavailableWhileFull += submitter.unavailable - before503;
      disk.free();
      done++;
      const freed = Date.now();
      const accepted = submitter.acceptedRecipients;
      context.log(
        `disk-full: space back (${submitter.unavailable - before503} answers 503 while full)`,
      );
      // Recovered when a request is accepted again (or nothing is left to send).
      await waitUntil(
        () => {
          if (!service!.running) throw new Error(`the service exited: ${service!.tail()}`);
          return submitter.acceptedRecipients > accepted || submitter.finished;
        },
        30_000,
        () => `nothing accepted 30 s after space came back: ${service!.tail()}`,
      ).then(
        () => recovery.push((Date.now() - freed) / 1000),
        (error: Error) => context.log(`disk-full: ${error.message}`),
      );
      if (!service!.running) break;
    }
    const { ledger, crashes } = await closeBooks(
      context,
      scenario,
      submitter,
      sending,
      'disk-full',
    );
    await fleet.stop();
    integrity = integrityCheck(db.sqliteFile!);
    const notes = [
      `${done} fills, ${plan.fullMs / 1000} s full each`,
      `503 while full: ${unavailableWhileFull} (${submitter.unavailableWithRetryAfter}/${submitter.unavailable} with Retry-After)`,
      `accepted again ${recovery.map((s) => s.toFixed(1)).join(', ') || '-'} s after space came back`,
      `integrity_check: ${integrity}`,
      submitter.summary(),
    ];
    if (acceptedWhileFull > 0) notes.push(`${acceptedWhileFull} recipients accepted while full`);
    return ledgerRow({
      fault: 'disk-full',
      database: 'sqlite',
      runs: done,
      ledger,
      submitter,
      crashes,
      peakRssMiB: fleet.peakRssMiB(),
      duplicateBound: duplicateBound(done),
      notes,
      checks: [
        unavailableWhileFull > 0,
        submitter.unavailableWithRetryAfter === submitter.unavailable,
        recovery.length === done,
        integrity === 'ok',
      ],
    });
  } finally {
    await scenario.close();
  }
}

/** PRAGMA integrity_check on the file, read-only, after the service stopped. */
function integrityCheck(file: string): string {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    const rows = db.prepare('pragma integrity_check').all() as { integrity_check: string }[];
    return rows.map((r) => r.integrity_check).join(', ');
  } catch (error) {
    return `failed: ${firstLine(error)}`;
  } finally {
    db.close();
  }
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0]!.slice(0, 200);
}
