// The workers table and the taking back of claims (src/delivery/liveness.ts decides when).
// Taking back a claim clears its lease and nothing else: the recipient keeps its state
// (queued or deferred), its attempts and when it is due, so it is claimable at once and no
// attempt is counted for it.

import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

type Db = Kysely<Database>;

export interface WorkerBeat {
  id: string;
  beats: number;
}

/** A worker starts: its row with no beats yet (again, when an observer removed it). */
export async function registerWorker(
  db: Db,
  worker: { id: string; host: string; pid: number; now: number },
): Promise<void> {
  await db
    .insertInto('workers')
    .values({
      id: worker.id,
      host: worker.host,
      pid: worker.pid,
      started_at: worker.now,
      last_beat_at: worker.now,
      beats: 0,
    })
    .onConflict((oc) =>
      oc.column('id').doUpdateSet((eb) => ({
        last_beat_at: worker.now,
        beats: eb('workers.beats', '+', 1),
      })),
    )
    .execute();
}

/** One beat: the counter goes up. False when the row is gone (an observer judged it dead). */
export async function beatWorker(db: Db, id: string, now: number): Promise<boolean> {
  const result = await db
    .updateTable('workers')
    .set((eb) => ({ beats: eb('beats', '+', 1), last_beat_at: now }))
    .where('id', '=', id)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Every worker's counter, as an observer reads them. */
export async function listWorkerBeats(db: Db): Promise<WorkerBeat[]> {
  const rows = await db.selectFrom('workers').select(['id', 'beats']).execute();
  return rows.map((r) => ({ id: r.id, beats: Number(r.beats) }));
}

/**
 * Lease owners with claims and no worker row: claims of a worker whose row was removed, or of
 * a version before the workers table. Reads only the partial index recipients_leased.
 */
export async function ownersWithoutWorker(db: Db): Promise<string[]> {
  const rows = await db
    .selectFrom('recipients')
    .select('lease_owner')
    .distinct()
    .where('lease_owner', 'is not', null)
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('workers')
            .select('workers.id')
            .whereRef('workers.id', '=', 'recipients.lease_owner'),
        ),
      ),
    )
    .execute();
  return rows.flatMap((r) => (r.lease_owner === null ? [] : [r.lease_owner]));
}

/**
 * Takes back every claim of `owner` and removes its row, in one transaction. Returns how many
 * recipients became claimable again.
 */
export async function takeBackWorker(db: Db, owner: string): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const result = await trx
      .updateTable('recipients')
      .set({ lease_owner: null, lease_until: null })
      .where('lease_owner', '=', owner)
      .executeTakeFirst();
    await trx.deleteFrom('workers').where('id', '=', owner).execute();
    return Number(result.numUpdatedRows);
  });
}

/**
 * Takes back every claim but `owner`'s, and removes every other worker's row: on a database
 * only one process uses (SQLite), every other claim belongs to a process that is gone.
 */
export async function takeBackAllBut(db: Db, owner: string): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const result = await trx
      .updateTable('recipients')
      .set({ lease_owner: null, lease_until: null })
      .where('lease_owner', 'is not', null)
      .where('lease_owner', '<>', owner)
      .executeTakeFirst();
    await trx.deleteFrom('workers').where('id', '<>', owner).execute();
    return Number(result.numUpdatedRows);
  });
}

/** A worker stopped gracefully (after giving back its claims): its row goes. */
export async function removeWorker(db: Db, id: string): Promise<void> {
  await db.deleteFrom('workers').where('id', '=', id).execute();
}
