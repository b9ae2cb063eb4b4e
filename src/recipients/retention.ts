// Data protection: message bodies are deleted a while after their last recipient became
// final (they are only needed for retries), evidence is kept much longer (the auditor's
// proof), and then goes too, with the message and its recipients (the lifecycle's
// `expunged`). Deletes run in bounded batches so no long lock blocks the queue.

import type { Db } from '../store/database.ts';
import {
  deleteBodiesCompletedBefore,
  deleteMessagesCompletedBefore,
  deleteOrphanSessionEvidence,
} from '../store/retention.repository.ts';
import type { RetentionSettings } from './settings.ts';

const BATCH = 1000;

export interface RetentionRun {
  bodiesDeleted: number;
  messagesDeleted: number;
  /** Shared session evidence rows no attempt referred to any more. */
  sessionEvidenceDeleted: number;
}

export async function applyRetention(
  db: Db,
  settings: RetentionSettings,
  now: number,
): Promise<RetentionRun> {
  const drain = async (
    deleteBatch: (before: number, batch: number) => Promise<number>,
    before: number,
  ) => {
    let total = 0;
    for (;;) {
      const n = await deleteBatch(before, BATCH);
      total += n;
      if (n < BATCH) return total;
    }
  };
  const bodiesDeleted = await drain(
    (before, batch) => deleteBodiesCompletedBefore(db, before, batch),
    now - settings.bodyRetentionMs,
  );
  // Whole messages (event `expunged`: recipients and attempts, i.e. their evidence) after
  // the evidence retention. Only complete messages go, and a message is complete only when
  // every recipient is final.
  const messagesDeleted = await drain(
    (before, batch) => deleteMessagesCompletedBefore(db, before, batch),
    now - settings.evidenceRetentionMs,
  );
  // Session evidence is shared by attempts (of several messages, even accounts): it goes
  // when no attempt refers to it any more. Rows are written with the first attempt that
  // uses them, so every row that lost its attempts to the step above is old enough.
  const sessionEvidenceDeleted = await drain(
    (before, batch) => deleteOrphanSessionEvidence(db, before, batch),
    now - settings.evidenceRetentionMs,
  );
  return { bodiesDeleted, messagesDeleted, sessionEvidenceDeleted };
}
