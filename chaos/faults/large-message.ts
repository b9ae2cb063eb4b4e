// Large work in bounded memory (issue 15): one 25 MB message to 1,000 recipients (short) or
// 10,000 (long), over five domains (BDAT on three, DATA on two), through a real
// `securemail serve` (api and worker roles): accepted over HTTP as JSON, sealed, stored,
// then delivered. The row reports the service's peak RSS (VmHWM), which must stay within
// the bound docs/faults-network.md states in terms of the message size, whatever the
// recipient count: the body is held once per message, not per recipient or connection.

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

const MB = 1024 * 1024;
/** Just under SECUREMAIL_MAX_MESSAGE_BYTES' default (25 MiB). */
export const MESSAGE_BYTES = 25_000_000;
const DOMAINS = ['big1.test', 'big2.test', 'big3.test', 'big4.test', 'big5.test'];
/** docs/faults-network.md: peak RSS <= BASE + FACTOR x message size. */
export const BOUND_BASE_MIB = 280;
export const BOUND_FACTOR = 12;

async function runOn(context: ChaosContext, database: ChaosDatabase): Promise<FaultRow> {
  const count = context.short ? 1_000 : 10_000;
  const started = Date.now();
  const world = await startNetWorld(context, database);
  const notes: string[] = [];
  try {
    for (const [i, domain] of DOMAINS.entries()) {
      await addDomain(world, domain, 81 + i, undefined, i % 2 === 0);
    }
    const service = await NetService.start(world, 'api,worker');
    const recipients = DOMAINS.flatMap((d) => addresses(count / DOMAINS.length, d));
    const message = mimeOf(MESSAGE_BYTES - 400);
    const response = await submit(world, service, recipients, message);
    const acceptedMiB = service.peakRssMiB();
    const accepted = response.status === 202 ? recipients.length : 0;
    if (response.status !== 202)
      notes.push(`answered ${response.status}: ${response.body.slice(0, 200)}`);
    context.log(
      `large-message: accepted in ${(response.ms / 1000).toFixed(1)} s, peak ${acceptedMiB} MiB so far`,
    );
    const deliveryStarted = Date.now();
    const allFinal = await waitAllFinal(world.store, context.short ? 300_000 : 3_600_000);
    const deliverySeconds = (Date.now() - deliveryStarted) / 1000;
    const peak = service.peakRssMiB();
    const l = await ledger(world);
    const messageMiB = message.length / MB;
    const bound = Math.round(BOUND_BASE_MIB + BOUND_FACTOR * messageMiB);
    notes.push(
      `${messageMiB.toFixed(1)} MiB x ${count}`,
      `accepted in ${(response.ms / 1000).toFixed(1)} s (peak ${acceptedMiB} MiB)`,
      `delivered in ${deliverySeconds.toFixed(0)} s`,
      `bound ${bound} MiB`,
    );
    return netRow({
      database,
      fault: 'large-message',
      runs: 1,
      accepted,
      sent: count,
      allFinal,
      ledger: l,
      duplicateBound: 0,
      peakRssMiB: peak,
      notes,
      checks: [l.undelivered === 0, peak <= bound],
      started,
    });
  } finally {
    await closeNetWorld(world);
  }
}

export const fault: Fault = {
  name: 'large-message',
  describe: 'one 25 MB message to 1,000 (short) or 10,000 recipients, peak memory bounded',
  run: (context) =>
    onEachDatabase(context, 'large-message', (database) => runOn(context, database)),
};
