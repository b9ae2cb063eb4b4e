// `pg-restart`: the PostgreSQL server restarted under a running service, as an operator's
// upgrade or a crash of the database host does it: a private cluster (harness/database.ts)
// stopped with `pg_ctl stop -m fast` or `-m immediate` (alternately), down for some seconds,
// started again, while an api process accepts a paced bulk send and a worker process
// delivers it. The service processes are never restarted by the suite.
//
// Checks: while the database is away the API answers 503 with Retry-After (counted), never
// 202 for what it did not store, and no other 5xx; neither process exits; both roles work
// again by themselves once PostgreSQL is back (the seconds it took are noted); nothing
// accepted is lost; duplicates within 2 x SECUREMAIL_WORKER_BATCH per restart (a worker
// whose database went away between the sink's 250 and recording `delivered` sends again).

import path from 'node:path';
import { postgresDb, type StopMode, startPrivateCluster } from '../harness/database.ts';
import { duplicateBound, ledgerRow, WORKER_BATCH } from '../harness/row.ts';
import { closeBooks, startScenario } from '../harness/scenario.ts';
import { Submitter } from '../harness/submit.ts';
import { randomBetween, sleep, waitUntil } from '../harness/wait.ts';
import { RECIPIENT_DOMAINS } from '../harness/world.ts';
import type { Fault } from '../types.ts';

const RECIPIENTS_PER_MESSAGE = 50;
/** How long the roles may take to work again once PostgreSQL is back. */
const RECOVERY_DEADLINE_MS = 30_000;

export const fault: Fault = {
  name: 'pg-restart',
  describe:
    'PostgreSQL stopped (fast or immediate), down for seconds, started again, while the API accepts and the worker delivers',
  async run(context) {
    const restarts = context.short ? 2 : 4;
    const downMs = context.short ? 3000 : 8000;
    const messages = context.short ? 24 : 80;
    const cluster = await startPrivateCluster(path.join(context.workDir, 'pg'));
    const db = await postgresDb(cluster.url, path.join(context.workDir, 'pg-restart-data'));
    context.log(`pg-restart: private PostgreSQL on port ${cluster.port}; starting api and worker`);
    const scenario = await startScenario(
      context,
      db,
      [
        { name: 'pg-api', roles: 'api' },
        { name: 'pg-worker', roles: 'worker' },
      ],
      { SECUREMAIL_WORKER_BATCH: String(WORKER_BATCH) },
    );
    const { fleet, world } = scenario;
    const [api] = fleet.members;
    try {
      const submitter = new Submitter(fleet.apiUrl, scenario.sender, {
        messages,
        recipientsPerMessage: RECIPIENTS_PER_MESSAGE,
        recipientDomains: RECIPIENT_DOMAINS,
        inFlight: 2,
        deadlineMs: context.short ? 120_000 : 300_000,
        // Spread over the restarts and beyond, so requests arrive before, during and after
        // each outage, and the worker has mail to deliver after each.
        paceMs: Math.round((restarts * (downMs + 5000) * 1.3) / (messages / 2)),
      });
      const sending = submitter.run();
      const apiRecovery: number[] = [];
      /** Seconds until the sink got mail again after each restart; undefined: not in 30 s. */
      const workerRecovery: (number | undefined)[] = [];
      let unavailableWhileDown = 0;
      let done = 0;
      await sleep(1500);
      for (let i = 0; i < restarts; i++) {
        const mode: StopMode = i % 2 === 0 ? 'fast' : 'immediate';
        const before503 = submitter.unavailable;
        await cluster.stop(mode);
        context.log(
          `pg-restart: PostgreSQL stopped (-m ${mode}) with ${submitter.acceptedRecipients} accepted, ${world.receivedTotal()} at the sink; down for ${downMs / 1000} s`,
        );
        await sleep(downMs);
        const readyDuringOutage = await status(`${fleet.apiUrl}/readyz`);
        await cluster.start();
        done++;
        unavailableWhileDown += submitter.unavailable - before503;
        const back = Date.now();
        const sinkAtReturn = world.receivedTotal();
        context.log(
          `pg-restart: PostgreSQL started again (${submitter.unavailable - before503} answers 503 while down; /readyz said ${readyDuringOutage})`,
        );
        // The API is back when /readyz reaches the database again.
        await waitUntil(
          async () => {
            const gone = fleet.crashes();
            if (gone.length > 0) throw new Error(`a process did not survive: ${gone.join(', ')}`);
            return (await status(`${fleet.apiUrl}/readyz`)) === 200;
          },
          RECOVERY_DEADLINE_MS,
          () =>
            `the API is not ready ${RECOVERY_DEADLINE_MS / 1000} s after PostgreSQL came back: ${api!.tail()}`,
        ).then(
          () => apiRecovery.push((Date.now() - back) / 1000),
          (error: Error) => context.log(`pg-restart: ${error.message}`),
        );
        if (fleet.crashes().length > 0) break;
        // The worker is back when the sink gets mail again (the send goes on during and after
        // the outages, so there is mail to deliver; should the send be over, when everything
        // accepted is at the sink). The next outage waits for it: each recovery on its own.
        const worker = await waitUntil(
          () =>
            world.receivedTotal() > sinkAtReturn ||
            (submitter.finished && world.receivedTotal() >= submitter.acceptedRecipients),
          RECOVERY_DEADLINE_MS,
          () =>
            `the worker delivered nothing ${RECOVERY_DEADLINE_MS / 1000} s after PostgreSQL came back: ${fleet.members[1]!.tail(3)}`,
        ).then(
          () => (Date.now() - back) / 1000,
          (error: Error) => {
            context.log(`pg-restart: ${error.message}`);
            return undefined;
          },
        );
        workerRecovery.push(worker);
        context.log(
          `pg-restart: API ready after ${apiRecovery.at(-1)?.toFixed(1) ?? '-'} s, worker delivering after ${worker?.toFixed(1) ?? '-'} s`,
        );
        await sleep(randomBetween(1000, 2500));
      }
      const { ledger, crashes } = await closeBooks(
        context,
        scenario,
        submitter,
        sending,
        'pg-restart',
      );
      const notes = [
        `${done} restarts, ${downMs / 1000} s down each`,
        `503 while down: ${unavailableWhileDown} (${submitter.unavailableWithRetryAfter}/${submitter.unavailable} with Retry-After)`,
        `API ready again after ${apiRecovery.map((s) => s.toFixed(1)).join(', ') || '-'} s`,
        `worker delivering again after ${workerRecovery.map((s) => (s === undefined ? 'never' : s.toFixed(1))).join(', ')} s`,
        submitter.summary(),
      ];
      const row = ledgerRow({
        fault: 'pg-restart',
        database: 'postgres',
        runs: done,
        ledger,
        submitter,
        crashes,
        peakRssMiB: fleet.peakRssMiB(),
        duplicateBound: duplicateBound(done),
        notes,
        checks: [
          unavailableWhileDown > 0,
          submitter.unavailableWithRetryAfter === submitter.unavailable,
          apiRecovery.length === done,
          workerRecovery.length === done,
          workerRecovery.every((s) => s !== undefined),
        ],
      });
      return [row];
    } finally {
      await scenario.close();
      await cluster.destroy();
    }
  },
};

async function status(url: string): Promise<number | string> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(3000) });
    await response.arrayBuffer();
    return response.status;
  } catch (error) {
    return (error as Error).name === 'TimeoutError' ? 'no answer in 3 s' : 'no connection';
  }
}
