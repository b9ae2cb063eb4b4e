// Recipient servers that misbehave mid-transaction (issue 15): for a while one domain's server
// drops the connection after each message's content, before its reply (`server-drop`), or
// goes silent after it (`server-stall`); two other domains are healthy throughout. Then the
// server behaves again. Checks: nothing lost; nothing counted delivered without its 250;
// copies beyond one only for contents the server kept unanswered (each may go twice: the
// client cannot know the server has it); the healthy domains are served meanwhile and get
// no duplicate. The service retries after SECUREMAIL_RETRY_MIN_SECONDS=2 (an operator
// setting; the default minute would make each row last minutes), and its data timeout is
// 3 s for the stall (SECUREMAIL_SMTP_DATA_TIMEOUT_MS, 10 minutes by default).

import type { SinkAction } from '../../test/support/counting-sink.ts';
import { sleep } from '../harness/wait.ts';
import type { ChaosContext, ChaosDatabase, Fault, FaultRow } from '../types.ts';
import {
  addDomain,
  addresses,
  closeNetWorld,
  ledger,
  mimeOf,
  NetService,
  netRow,
  onEachDatabase,
  startNetWorld,
  submit,
  waitAllFinal,
} from './net-support.ts';

const FAULTY = 'faulty.test';
const HEALTHY = ['fine1.test', 'fine2.test'];

async function runServerFault(
  context: ChaosContext,
  name: 'server-drop' | 'server-stall',
  database: ChaosDatabase,
): Promise<FaultRow> {
  const action: SinkAction = name === 'server-drop' ? 'drop' : 'stall';
  const faultyCount = context.short ? 300 : 10_000;
  const healthyCount = context.short ? 100 : 1_000;
  const faultMs = context.short ? 6_000 : 20_000;
  const started = Date.now();
  const world = await startNetWorld(context, database);
  let faulty = true;
  const notes: string[] = [];
  try {
    const sink = await addDomain(world, FAULTY, 61, () => (faulty ? action : 'reply'));
    const healthy = [];
    for (const [i, domain] of HEALTHY.entries())
      healthy.push(await addDomain(world, domain, 62 + i));
    const service = await NetService.start(world, 'api,worker', {
      SECUREMAIL_RETRY_MIN_SECONDS: '2',
      SECUREMAIL_SMTP_DATA_TIMEOUT_MS: '3000',
    });
    // The faulty domain's recipients first, in messages of at most 1,000 recipients.
    const faultyAddresses = addresses(faultyCount, FAULTY);
    let accepted = 0;
    for (let at = 0; at < faultyAddresses.length; at += 1000) {
      const batch = faultyAddresses.slice(at, at + 1000);
      const response = await submit(world, service, batch, mimeOf(2_000));
      if (response.status === 202) accepted += batch.length;
      else notes.push(`submission answered ${response.status}`);
    }
    // The healthy domains' recipients while the faulty server misbehaves.
    await sleep(1_000);
    const healthyStarted = Date.now();
    const healthyAddresses = HEALTHY.flatMap((d) => addresses(healthyCount, d));
    const response = await submit(world, service, healthyAddresses, mimeOf(2_000));
    if (response.status === 202) accepted += healthyAddresses.length;
    else notes.push(`submission answered ${response.status}`);
    const healthyDone = await waitHealthy(world.store, healthyAddresses.length, faultMs);
    const healthySeconds = (Date.now() - healthyStarted) / 1000;
    const remaining = faultMs - (Date.now() - started);
    if (remaining > 0) await sleep(remaining);
    faulty = false;
    const recoverStarted = Date.now();
    context.log(`${name}: the server behaves again; waiting for the queue`);
    const allFinal = await waitAllFinal(world.store, context.short ? 60_000 : 300_000);
    const recoverSeconds = (Date.now() - recoverStarted) / 1000;
    const l = await ledger(world);
    const kept = [...sink.unanswered.values()].reduce((a, b) => a + b, 0);
    const healthyDuplicates = healthy.reduce((n, s) => n + s.duplicates, 0);
    notes.push(
      `${kept} contents kept unanswered (${action})`,
      `healthy domains delivered in ${healthySeconds.toFixed(1)} s during the fault${healthyDone ? '' : ' (NOT within the fault)'}`,
      `all final ${recoverSeconds.toFixed(1)} s after recovery`,
    );
    if (l.deliveredUnanswered > 0) notes.push(`${l.deliveredUnanswered} delivered without a 250`);
    if (healthyDuplicates > 0) notes.push(`${healthyDuplicates} duplicates at healthy domains`);
    return netRow({
      database,
      fault: name,
      runs: kept,
      accepted,
      sent: faultyCount + 2 * healthyCount,
      allFinal,
      ledger: l,
      duplicateBound: kept,
      peakRssMiB: service.peakRssMiB(),
      notes,
      checks: [
        healthyDone,
        l.undelivered === 0,
        l.deliveredUnanswered === 0,
        healthyDuplicates === 0,
      ],
      started,
    });
  } finally {
    await closeNetWorld(world);
  }
}

/** Waits until `count` recipients outside the faulty domain are delivered. */
async function waitHealthy(
  store: Awaited<ReturnType<typeof startNetWorld>>['store'],
  count: number,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const row = await store.db
      .selectFrom('recipients')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('status', '=', 'delivered')
      .where('address', 'not like', `%@${FAULTY}`)
      .executeTakeFirstOrThrow();
    if (Number(row.n) >= count) return true;
    if (Date.now() > deadline) return false;
    await sleep(200);
  }
}

export const serverDrop: Fault = {
  name: 'server-drop',
  describe:
    "a recipient server drops the connection after each message's content, before its reply, for a while",
  run: (context) =>
    onEachDatabase(context, 'server-drop', (database) =>
      runServerFault(context, 'server-drop', database),
    ),
};

export const serverStall: Fault = {
  name: 'server-stall',
  describe: "a recipient server goes silent after each message's content, for a while",
  run: (context) =>
    onEachDatabase(context, 'server-stall', (database) =>
      runServerFault(context, 'server-stall', database),
    ),
};

/** Both rows. */
export const fault: Fault = {
  name: 'server-faults',
  describe: 'server-drop and server-stall',
  run: async (context) => [...(await serverDrop.run(context)), ...(await serverStall.run(context))],
};
