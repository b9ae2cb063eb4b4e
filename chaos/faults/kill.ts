// `kill`: processes SIGKILLed at random moments while a bulk send is being accepted and
// delivered, and started again at once, as a supervisor would. SQLite: the one
// `serve --roles api,worker` process. PostgreSQL: an api process and two worker processes,
// any of which may be the one killed. The moments are drawn at random over the work's progress
// (acceptance and delivery go on together), one in each equal slice of its first 80 %, so
// kills land in the middle of transactions, of SMTP sessions, and between a message reaching
// the sink and its recipient being marked delivered, and all of them land before the work is
// done: drawn over the clock, the last ones sometimes came after it (the restarts slow the
// send down), and a row had 4 kills instead of 5.
//
// Checks: no 202 for what was not stored; every accepted recipient final within a
// deadline; every delivered one at the sink; duplicates within the bound: each kill of a
// process with the worker role may repeat at most the recipients it held, and a worker holds
// at most 2 x SECUREMAIL_WORKER_BATCH (src/delivery/settings.ts).

import path from 'node:path';
import { type ChaosDb, postgresDb, sqliteDb } from '../harness/database.ts';
import type { Member } from '../harness/fleet.ts';
import { duplicateBound, ledgerRow, skippedRow, WORKER_BATCH } from '../harness/row.ts';
import { closeBooks, startScenario } from '../harness/scenario.ts';
import { Submitter } from '../harness/submit.ts';
import { randomBetween, sleep } from '../harness/wait.ts';
import { RECIPIENT_DOMAINS } from '../harness/world.ts';
import type { ChaosContext, ChaosDatabase, Fault, FaultRow } from '../types.ts';

const RECIPIENTS_PER_MESSAGE = 100;
/** No progress for this long between kills: the work is stuck, stop killing and go to the books. */
const STALL_MS = 20_000;

export const fault: Fault = {
  name: 'kill',
  describe:
    'SIGKILL of api and worker processes at random moments during a bulk send, restarted at once',
  async run(context) {
    const rows = [await killRow(context, 'sqlite')];
    if (context.postgresUrl === undefined) {
      rows.push(skippedRow('kill', 'postgres', 'no PostgreSQL (set TEST_DATABASE_URL)'));
    } else {
      rows.push(await killRow(context, 'postgres'));
    }
    return rows;
  },
};

async function killRow(context: ChaosContext, database: ChaosDatabase): Promise<FaultRow> {
  const kills = context.short ? 5 : 10;
  const dataDir = path.join(context.workDir, `${database}-data`);
  const db: ChaosDb =
    database === 'sqlite' ? sqliteDb(dataDir) : await postgresDb(context.postgresUrl!, dataDir);
  const layout: Member[] =
    database === 'sqlite'
      ? [{ name: 'sqlite-service', roles: 'api,worker' }]
      : [
          { name: 'pg-api', roles: 'api' },
          { name: 'pg-worker-1', roles: 'worker' },
          { name: 'pg-worker-2', roles: 'worker' },
        ];
  context.log(`kill/${database}: starting ${layout.map((m) => m.name).join(', ')}`);
  const scenario = await startScenario(context, db, layout, {
    SECUREMAIL_WORKER_BATCH: String(WORKER_BATCH),
  });
  const { fleet, world } = scenario;
  try {
    // The send is paced over a window of some seconds, so that kills (which take a restart
    // of a few seconds each) land while messages are still being accepted and delivered.
    const pace = context.short
      ? { messages: 15, inFlight: 1, paceMs: 1500 }
      : { messages: 100, inFlight: 2, paceMs: 1600 };
    const windowMs = (pace.messages / pace.inFlight) * (pace.paceMs + 100);
    const submitter = new Submitter(fleet.apiUrl, scenario.sender, {
      messages: pace.messages,
      recipientsPerMessage: RECIPIENTS_PER_MESSAGE,
      recipientDomains: RECIPIENT_DOMAINS,
      inFlight: pace.inFlight,
      paceMs: pace.paceMs,
      deadlineMs: windowMs + 120_000,
    });
    const total = submitter.total;
    // Progress over the whole job: acceptance counts half, delivery the other half.
    const progress = () =>
      (submitter.acceptedRecipients + Math.min(total, world.receivedTotal())) / (2 * total);
    const KILL_SPAN = { from: 0.03, to: 0.8 };
    const slice = (KILL_SPAN.to - KILL_SPAN.from) / kills;
    const moments = Array.from(
      { length: kills },
      (_, i) => KILL_SPAN.from + (i + Math.random()) * slice,
    );
    context.log(
      `kill/${database}: ${total} recipients over about ${Math.round(windowMs / 1000)} s, kills at ${moments.map((m) => `${Math.round(m * 100)}%`).join(' ')} of the work`,
    );
    // Every process is killed at least once (in a random order), then again at random.
    const victims = shuffle([...fleet.members]);
    while (victims.length < kills) victims.push(fleet.random());
    const started = Date.now();
    const sending = submitter.run();
    const killed = new Map<string, number>();
    let workerKills = 0;
    let kill = 0;
    const killDeadline = started + windowMs + 120_000;
    // A moment that passed while a process was restarting comes a little after it is up.
    let notBefore = 0;
    // Where the work stops moving (claims nobody takes back), kills would wait for ever.
    let lastProgress = progress();
    let movedAt = Date.now();
    while (kill < moments.length && Date.now() < killDeadline) {
      const now = progress();
      if (now !== lastProgress) {
        lastProgress = now;
        movedAt = Date.now();
      }
      if (Date.now() - movedAt > STALL_MS) {
        context.log(
          `kill/${database}: no progress for ${STALL_MS / 1000} s at ${Math.round(now * 100)}%; no more kills`,
        );
        break;
      }
      if (now >= 1) {
        context.log(`kill/${database}: the work was done before kill ${kill + 1}; no more kills`);
        break;
      }
      if (now < moments[kill]! || Date.now() < notBefore) {
        await sleep(20);
        continue;
      }
      const victim = victims[kill % victims.length]!;
      await victim.kill();
      killed.set(victim.name, (killed.get(victim.name) ?? 0) + 1);
      if (victim.spec.roles.includes('worker')) workerKills++;
      context.log(
        `kill/${database}: killed ${victim.name} at ${((Date.now() - started) / 1000).toFixed(1)} s (${submitter.acceptedRecipients} accepted, ${world.receivedTotal()} at the sink); restarting`,
      );
      await victim.start();
      kill++;
      notBefore = Date.now() + randomBetween(200, 1500);
    }
    const { ledger, crashes } = await closeBooks(
      context,
      scenario,
      submitter,
      sending,
      `kill/${database}`,
    );
    const notes = [
      `${kill} kills (${[...killed].map(([n, k]) => `${n} ${k}`).join(', ')})`,
      `all final ${ledger.open === 0 ? `${Math.round((Date.now() - started) / 1000)} s after the send began` : 'NOT within the deadline'}`,
      submitter.summary(),
    ];
    return ledgerRow({
      fault: 'kill',
      database,
      runs: kill,
      ledger,
      submitter,
      crashes,
      peakRssMiB: fleet.peakRssMiB(),
      duplicateBound: duplicateBound(workerKills),
      notes,
      checks: [kill >= 5],
      serverErrorsAllowed: true,
    });
  } finally {
    await scenario.close();
  }
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
