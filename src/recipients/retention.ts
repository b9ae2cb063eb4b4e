// Data protection: message bodies are deleted when their last recipient became final (they
// are only needed for retries; SECUREMAIL_BODY_RETENTION_DAYS keeps them longer), subjects a
// week later (a late bounce's notification names the message by it), evidence is kept much longer (the auditor's
// proof), and then goes too, with the message and its recipients (the lifecycle's
// `expunged`). Deletes run in bounded batches so no long lock blocks the queue.

import type { Db } from '../store/database.ts';
import {
  deleteBodiesCompletedBefore,
  deleteMessagesCompletedBefore,
  deleteOrphanSessionEvidence,
  deleteSubjectsCompletedBefore,
} from '../store/retention.repository.ts';
import type { RetentionSettings } from './settings.ts';

const BATCH = 1000;

export interface RetentionRun {
  bodiesDeleted: number;
  subjectsDeleted: number;
  messagesDeleted: number;
  /** Shared session evidence rows no attempt referred to any more. */
  sessionEvidenceDeleted: number;
}

async function drain(
  deleteBatch: (before: number, batch: number) => Promise<number>,
  before: number,
): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await deleteBatch(before, BATCH);
    total += n;
    if (n < BATCH) return total;
  }
}

/**
 * Bodies only: run every minute by the worker, so that with the default of 0 days a body is
 * gone within a minute of its message completing (the partial index messages_body_due holds
 * only completed messages that still have one, so a run with nothing to do reads nothing).
 */
export function applyBodyRetention(
  db: Db,
  settings: Pick<RetentionSettings, 'bodyRetentionMs'>,
  now: number,
): Promise<number> {
  // `<=`: a retention of 0 clears a message completed this very millisecond too.
  return drain(
    (before, batch) => deleteBodiesCompletedBefore(db, before, batch),
    now - settings.bodyRetentionMs + 1,
  );
}

export async function applyRetention(
  db: Db,
  settings: RetentionSettings,
  now: number,
): Promise<RetentionRun> {
  const bodiesDeleted = await applyBodyRetention(db, settings, now);
  const subjectsDeleted = await drain(
    (before, batch) => deleteSubjectsCompletedBefore(db, before, batch),
    now - settings.subjectRetentionMs + 1,
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
  return { bodiesDeleted, subjectsDeleted, messagesDeleted, sessionEvidenceDeleted };
}
