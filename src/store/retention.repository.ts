// The deletes of data retention, one bounded batch per call, so no long lock blocks the
// queue. What is deleted when is decided in src/recipients/retention.ts.

import type { Db } from './database.ts';

/** Clears the bodies of up to `batch` messages completed before `before`; returns how many. */
export function deleteBodiesCompletedBefore(
  db: Db,
  before: number,
  batch: number,
): Promise<number> {
  return clearSealedCompletedBefore(db, 'body_sealed', before, batch);
}

/** Clears the subjects of up to `batch` messages completed before `before`; returns how many. */
export function deleteSubjectsCompletedBefore(
  db: Db,
  before: number,
  batch: number,
): Promise<number> {
  return clearSealedCompletedBefore(db, 'subject_sealed', before, batch);
}

/** Sets `column` to null on up to `batch` messages completed before `before`; returns how many. */
async function clearSealedCompletedBefore(
  db: Db,
  column: 'body_sealed' | 'subject_sealed',
  before: number,
  batch: number,
): Promise<number> {
  // `completed_at is not null` lets both dialects use the partial indexes messages_body_due
  // and messages_subject_due.
  const due = db
    .selectFrom('messages')
    .select('id')
    .where('completed_at', 'is not', null)
    .where('completed_at', '<', before)
    .where(column, 'is not', null)
    .limit(batch);
  const result = await db
    .updateTable('messages')
    .set(column, null)
    .where('id', 'in', due)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/**
 * Deletes up to `batch` whole messages completed before `before`, with their recipients and
 * attempts (their evidence); returns how many. Children first: SQLite only cascades where
 * foreign keys are enforced.
 */
export async function deleteMessagesCompletedBefore(
  db: Db,
  before: number,
  batch: number,
): Promise<number> {
  const ids = (
    await db
      .selectFrom('messages')
      .select('id')
      .where('completed_at', '<', before)
      .limit(batch)
      .execute()
  ).map((r) => r.id);
  if (ids.length === 0) return 0;
  await db.transaction().execute(async (trx) => {
    const recipients = trx.selectFrom('recipients').select('id').where('message_id', 'in', ids);
    await trx.deleteFrom('attempts').where('recipient_id', 'in', recipients).execute();
    await trx.deleteFrom('recipients').where('message_id', 'in', ids).execute();
    await trx.deleteFrom('messages').where('id', 'in', ids).execute();
  });
  return ids.length;
}

/**
 * Deletes up to `batch` session evidence rows made before `before` that no attempt refers to
 * any more; returns how many.
 */
export async function deleteOrphanSessionEvidence(
  db: Db,
  before: number,
  batch: number,
): Promise<number> {
  const orphans = db
    .selectFrom('session_evidence')
    .select('id')
    .where('created_at', '<', before)
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('attempts')
            .select('attempts.id')
            .whereRef('attempts.session_evidence_id', '=', 'session_evidence.id'),
        ),
      ),
    )
    .limit(batch);
  const result = await db
    .deleteFrom('session_evidence')
    .where('id', 'in', orphans)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
