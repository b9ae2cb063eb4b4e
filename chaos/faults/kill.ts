// `kill`: processes SIGKILLed at random moments while a bulk send is being accepted and
// delivered, and started again at once, as a supervisor would. SQLite: the one
// `serve --roles api,worker` process. PostgreSQL: an api process and two worker processes,
// any of which may be the one killed. The moments are drawn at random over the work
// (acceptance and delivery), so kills land in the middle of transactions, of SMTP sessions,
// and between a message reaching the sink and its recipient being marked delivered.
//
// Checks: no 202 for what was not stored; every accepted recipient final within a
// deadline; every delivered one at the sink; duplicates within the bound: each kill of a
// process with the worker role may repeat at most the recipients it held, and a worker holds
// at most 2 x SECUREMAIL_WORKER_BATCH (src/delivery/settings.ts).

import path from 'node:path';
import { type ChaosDb, postgresDb, sqliteDb } from '../harness/database.ts';
import type { Member } from '../harness/fleet.ts';
import { waitForLedger } from '../harness/ledger.ts';
import { startScenario } from '../harness/scenario.ts';
import { Submitter } from '../harness/submit.ts';
import { randomBetween, sleep } from '../harness/wait.ts';
import { RECIPIENT_DOMAINS } from '../harness/world.ts';
import type { ChaosContext, ChaosDatabase, Fault, FaultRow } from '../types.ts';

/** Small, so the duplicate bound says something: 2 x 100 recipients per worker kill. */
const WORKER_BATCH = 100;
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
      rows.push(skipped('postgres', 'no PostgreSQL (set TEST_DATABASE_URL)'));
    } else {
      rows.push(await killRow(context, 'postgres'));
    }
    return rows;
  },
};

function skipped(database: ChaosDatabase, why: string): FaultRow {
  return {
    fault: 'kill',
    database,
    runs: 0,
    recipients: 0,
    lost: 0,
    duplicated: 0,
    duplicateBound: 0,
    notes: [],
    skipped: why,
    ok: true,
  };
}

async function killRow(context: ChaosContext, database: ChaosDatabase): Promise<FaultRow> {
  const messages = context.short ? 15 : 100;
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
    const submitter = new Submitter(fleet.apiUrl, scenario.sender, {
      messages,
      recipientsPerMessage: RECIPIENTS_PER_MESSAGE,
      recipientDomains: RECIPIENT_DOMAINS,
      inFlight: 4,
      deadlineMs: context.short ? 90_000 : 300_000,
    });
    const total = submitter.total;
    // Progress over the whole job: acceptance counts half, delivery the other half.
    const progress = () =>
      (submitter.acceptedRecipients + Math.min(total, world.receivedTotal())) / (2 * total);
    const moments = Array.from({ length: kills }, () => 0.02 + Math.random() * 0.88).sort();
    context.log(
      `kill/${database}: ${total} recipients, kills at ${moments.map((m) => `${Math.round(m * 100)}%`).join(' ')} of the work`,
    );
    const started = Date.now();
    const sending = submitter.run();
    const killed = new Map<string, number>();
    let workerKills = 0;
    let kill = 0;
    const killDeadline = Date.now() + (context.short ? 120_000 : 400_000);
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
      if (now < moments[kill]!) {
        await sleep(20);
        continue;
      }
      const victim = fleet.random();
      await victim.kill();
      killed.set(victim.name, (killed.get(victim.name) ?? 0) + 1);
      if (victim.spec.roles.includes('worker')) workerKills++;
      context.log(
        `kill/${database}: killed ${victim.name} at ${Math.round(progress() * 100)}% (${submitter.acceptedRecipients} accepted, ${world.receivedTotal()} at the sink); restarting`,
      );
      await victim.start();
      kill++;
      await sleep(randomBetween(100, 600));
    }
    await sending;
    context.log(`kill/${database}: sending done: ${submitter.summary()}`);
    const { ledger } = await waitForLedger(
      () => db.open(),
      submitter.accepted,
      () => world.received(),
      context.short ? 60_000 : 120_000,
      context.log,
    );
    const duplicateBound = workerKills * 2 * WORKER_BATCH;
    const crashes = fleet.crashes();
    const notes = [
      `${kill} kills (${[...killed].map(([n, k]) => `${n} ${k}`).join(', ')})`,
      `all final ${ledger.open === 0 ? `after ${Math.round((Date.now() - started) / 1000)} s` : 'NOT within the deadline'}`,
      submitter.summary(),
    ];
    if (ledger.open > 0) notes.push(`stuck: ${ledger.stuck}`);
    if (ledger.absentAtSink > 0) notes.push(`${ledger.absentAtSink} delivered but not at the sink`);
    if (ledger.falseAccepts > 0) notes.push(`${ledger.falseAccepts} messages 202'd but not stored`);
    const others = Object.entries(ledger.statuses).filter(([s]) => s !== 'delivered');
    if (others.length > 0)
      notes.push(`not delivered: ${others.map(([s, n]) => `${s} ${n}`).join(', ')}`);
    if (crashes.length > 0) notes.push(`crashed: ${crashes.join(', ')}`);
    if (submitter.refused.length > 0) {
      notes.push(`refused: ${submitter.refused[0]!.status} ${submitter.refused[0]!.body}`);
    }
    return {
      fault: 'kill',
      database,
      runs: kill,
      recipients: ledger.accepted,
      lost: ledger.lost,
      duplicated: ledger.duplicated,
      duplicateBound,
      peakRssMiB: fleet.peakRssMiB(),
      falseAccepts: ledger.falseAccepts,
      notes,
      ok:
        ledger.lost === 0 &&
        submitter.gaveUp === 0 &&
        submitter.refused.length === 0 &&
        ledger.falseAccepts === 0 &&
        ledger.duplicated <= duplicateBound &&
        crashes.length === 0 &&
        kill >= 5,
    };
  } finally {
    await scenario.close();
  }
}
