// What every fault does around its fault: the world (DNS, sink, CA), the database, a client
// made with the CLI, the fleet of `serve` processes started, the sending account set up
// through the API; and at the end everything stopped and given back.

import path from 'node:path';
import type { ChaosContext } from '../types.ts';
import type { ChaosDb } from './database.ts';
import { Fleet, type Member } from './fleet.ts';
import { type Ledger, waitForLedger } from './ledger.ts';
import type { Submitter } from './submit.ts';
import { createClient, type Sender, setUpSender, startWorld, type World } from './world.ts';

export interface Scenario {
  world: World;
  db: ChaosDb;
  fleet: Fleet;
  sender: Sender;
  /** Stops the processes and the world, drops the database. */
  close(): Promise<void>;
}

export async function startScenario(
  context: ChaosContext,
  db: ChaosDb,
  layout: readonly Member[],
  extraEnv: Record<string, string> = {},
): Promise<Scenario> {
  const world = await startWorld(context.workDir);
  let fleet: Fleet | undefined;
  try {
    const env = world.env(db.env, extraEnv);
    const client = await createClient(env);
    fleet = await Fleet.plan(layout, env, path.join(context.workDir));
    await fleet.start();
    const sender = await setUpSender(world, fleet.apiUrl, client);
    const started = fleet;
    return {
      world,
      db,
      fleet: started,
      sender,
      async close() {
        await started.stop();
        await world.close();
        await db.close();
      },
    };
  } catch (error) {
    await fleet?.stop();
    await world.close();
    await db.close();
    throw error;
  }
}

/**
 * The end of a fault's send: waits for the submitter, then until every accepted recipient is
 * final (waitForLedger, 60 s short, 120 s long). A process that exited by itself has failed
 * the row already (ledgerRow), so then the send is given up and the books read at once.
 */
export async function closeBooks(
  context: ChaosContext,
  scenario: Scenario,
  submitter: Submitter,
  sending: Promise<void>,
  label: string,
): Promise<{ ledger: Ledger; crashes: string[] }> {
  const crashed = scenario.fleet.crashes().length > 0;
  if (crashed) submitter.abort();
  await sending;
  context.log(`${label}: sending done: ${submitter.summary()}`);
  const { ledger } = await waitForLedger(
    () => scenario.db.open(),
    submitter.accepted,
    () => scenario.world.received(),
    crashed ? 5000 : context.short ? 60_000 : 120_000,
    context.log,
  );
  return { ledger, crashes: scenario.fleet.crashes() };
}
