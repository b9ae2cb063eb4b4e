// The resolver down for a while (issue 15): first it answers SERVFAIL to everything, then it
// says nothing at all, then it is back. Recipients submitted during the outage are deferred
// (never refused as final, never sent by a weaker method: no connection is made without the
// answers), and go out once each when DNS returns. The service retries after
// SECUREMAIL_RETRY_MIN_SECONDS=2 (an operator setting; the default minute would stretch the
// row to minutes); its DNS cache is cold for the recipient domains, as the outage starts
// before their first lookup.

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
  statusCounts,
  submit,
  waitAllFinal,
} from './net-support.ts';

const DOMAINS = ['dns1.test', 'dns2.test'];

async function runOn(context: ChaosContext, database: ChaosDatabase): Promise<FaultRow> {
  const perDomain = context.short ? 100 : 1_000;
  const phaseMs = context.short ? 4_000 : 20_000;
  const started = Date.now();
  const world = await startNetWorld(context, database);
  const notes: string[] = [];
  try {
    const sinks = [];
    for (const [i, domain] of DOMAINS.entries()) sinks.push(await addDomain(world, domain, 71 + i));
    const service = await NetService.start(world, 'api,worker', {
      SECUREMAIL_RETRY_MIN_SECONDS: '2',
    });
    world.dns.outage = 'servfail';
    context.log('dns-outage: the resolver answers SERVFAIL');
    let accepted = 0;
    for (const domain of DOMAINS) {
      const list = addresses(perDomain, domain);
      const response = await submit(world, service, list, mimeOf(2_000));
      if (response.status === 202) accepted += list.length;
      else notes.push(`submission answered ${response.status}`);
    }
    await sleep(phaseMs);
    const duringServfail = await statusCounts(world.store);
    world.dns.outage = 'timeout';
    context.log('dns-outage: the resolver says nothing');
    await sleep(phaseMs);
    const duringSilence = await statusCounts(world.store);
    const connectionsDuringOutage = sinks.reduce((n, s) => n + s.connections, 0);
    const attempts = await world.store.db
      .selectFrom('attempts')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    world.dns.outage = undefined;
    const back = Date.now();
    context.log('dns-outage: the resolver is back');
    const allFinal = await waitAllFinal(world.store, context.short ? 60_000 : 180_000);
    const recoverSeconds = (Date.now() - back) / 1000;
    const l = await ledger(world);
    const onlyDeferred = (counts: Map<string, number>) =>
      [...counts.keys()].every((status) => status === 'deferred' || status === 'queued');
    notes.push(
      `${Number(attempts.n)} attempts deferred during the outage, ${connectionsDuringOutage} connections`,
      `all delivered ${recoverSeconds.toFixed(1)} s after DNS returned`,
    );
    if (!onlyDeferred(duringServfail) || !onlyDeferred(duringSilence)) {
      notes.push(`final during the outage: ${JSON.stringify(Object.fromEntries(duringSilence))}`);
    }
    return netRow({
      database,
      fault: 'dns-outage',
      runs: 2,
      accepted,
      sent: perDomain * DOMAINS.length,
      allFinal,
      ledger: l,
      duplicateBound: 0,
      peakRssMiB: service.peakRssMiB(),
      notes,
      checks: [
        l.undelivered === 0,
        connectionsDuringOutage === 0,
        onlyDeferred(duringServfail),
        onlyDeferred(duringSilence),
      ],
      started,
    });
  } finally {
    world.dns.outage = undefined;
    await closeNetWorld(world);
  }
}

export const fault: Fault = {
  name: 'dns-outage',
  describe: 'the resolver answers SERVFAIL, then nothing, then comes back',
  run: (context) => onEachDatabase(context, 'dns-outage', (database) => runOn(context, database)),
};
