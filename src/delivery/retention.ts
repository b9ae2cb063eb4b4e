// Data protection: message bodies are deleted a while after their last recipient became
// final (they are only needed for retries), evidence is kept much longer (the auditor's
// proof), and then goes too. Deletes run in bounded batches so no long lock blocks the
// queue.

import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';

const BATCH = 1000;

export interface RetentionSettings {
  bodyRetentionMs: number;
  evidenceRetentionMs: number;
}

export interface RetentionRun {
  bodiesDeleted: number;
  messagesDeleted: number;
}

export async function applyRetention(
  db: Kysely<Database>,
  settings: RetentionSettings,
  now: number,
): Promise<RetentionRun> {
  let bodiesDeleted = 0;
  for (;;) {
    const due = db
      .selectFrom('messages')
      .select('id')
      .where('completed_at', '<', now - settings.bodyRetentionMs)
      .where('body_sealed', 'is not', null)
      .limit(BATCH);
    const result = await db
      .updateTable('messages')
      .set({ body_sealed: null })
      .where('id', 'in', due)
      .executeTakeFirst();
    const n = Number(result.numUpdatedRows);
    bodiesDeleted += n;
    if (n < BATCH) break;
  }

  // Whole messages (with recipients and attempts, i.e. their evidence) after the evidence
  // retention. Children first: SQLite only cascades where foreign keys are enforced.
  let messagesDeleted = 0;
  for (;;) {
    const ids = (
      await db
        .selectFrom('messages')
        .select('id')
        .where('completed_at', '<', now - settings.evidenceRetentionMs)
        .limit(BATCH)
        .execute()
    ).map((r) => r.id);
    if (ids.length === 0) break;
    await db.transaction().execute(async (trx) => {
      const recipients = trx.selectFrom('recipients').select('id').where('message_id', 'in', ids);
      await trx.deleteFrom('attempts').where('recipient_id', 'in', recipients).execute();
      await trx.deleteFrom('recipients').where('message_id', 'in', ids).execute();
      await trx.deleteFrom('messages').where('id', 'in', ids).execute();
    });
    messagesDeleted += ids.length;
    if (ids.length < BATCH) break;
  }
  return { bodiesDeleted, messagesDeleted };
}
