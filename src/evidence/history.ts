// The attempts of a message's recipients with their evidence summarised, as GET
// /message/{id} shows them under each recipient.

import type { Db } from '../store/database.ts';
import { listAttempts } from '../store/messages.repository.ts';
import type { AttemptVerdict } from '../vocabulary/verdicts.ts';
import { type EvidenceSummary, summariseEvidence } from './summary.ts';

export interface AttemptView {
  started_at: string;
  ended_at: string;
  verdict: AttemptVerdict;
  reason: string | null;
  reply: string | null;
  evidence: EvidenceSummary;
}

/** Per recipient id, its attempts oldest first (recipients without any are absent). */
export async function attemptHistory(
  db: Db,
  recipientIds: string[],
): Promise<Map<string, AttemptView[]>> {
  const history = new Map<string, AttemptView[]>();
  for (const a of await listAttempts(db, recipientIds)) {
    const view: AttemptView = {
      started_at: new Date(a.started_at).toISOString(),
      ended_at: new Date(a.ended_at).toISOString(),
      verdict: a.verdict,
      reason: a.reason,
      reply: a.reply,
      evidence: summariseEvidence(a.evidence_json),
    };
    history.set(a.recipient_id, [...(history.get(a.recipient_id) ?? []), view]);
  }
  return history;
}
