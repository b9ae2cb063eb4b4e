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
  /** Shared session evidence rows no attempt referred to any more. */
  sessionEvidenceDeleted: number;
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

  // Session evidence is shared by attempts (of several messages, even accounts): it goes
  // when no attempt refers to it any more. Rows are written with the first attempt that
  // uses them, so every row that lost its attempts to the step above is old enough.
  let sessionEvidenceDeleted = 0;
  for (;;) {
    const orphans = db
      .selectFrom('session_evidence')
      .select('id')
      .where('created_at', '<', now - settings.evidenceRetentionMs)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('attempts')
              .select('attempts.id')
              .whereRef('attempts.session_evidence_id', '=', 'session_evidence.id'),
          ),
        ),
      )
      .limit(BATCH);
    const result = await db
      .deleteFrom('session_evidence')
      .where('id', 'in', orphans)
      .executeTakeFirst();
    const n = Number(result.numDeletedRows);
    sessionEvidenceDeleted += n;
    if (n < BATCH) break;
  }
  return { bodiesDeleted, messagesDeleted, sessionEvidenceDeleted };
}
