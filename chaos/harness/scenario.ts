// What every fault does around its fault: the world (DNS, sink, CA), the database, a client
// made with the CLI, the fleet of `serve` processes started, the sending account set up
// through the API; and at the end everything stopped and given back.

import path from 'node:path';
import type { ChaosContext } from '../types.ts';
import type { ChaosDb } from './database.ts';
import { Fleet, type Member } from './fleet.ts';
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
