// What a failed transaction means for its recipient, for its connection and for the
// destination's concurrency: one function over the SMTP error, so the rules sit together.
// A message counts as delivered only on the 250 to its own content (smtp-client.ts), so
// everything here is about messages that did not get one.

import { attemptOutcome, type Outcome } from '../recipients/attempts.ts';
import { formatReply, type SmtpError, type SmtpReply } from '../security/smtp-reply.ts';
import type { AttemptRecord } from '../store/delivery.repository.ts';
import type { ReasonCode, RecipientReason } from '../vocabulary/reasons.ts';
import type { AttemptVerdict } from '../vocabulary/verdicts.ts';

/** An attempt record for a verdict, reason and reply of the recipient at hand. */
export type AttemptOf = (
  verdict: AttemptVerdict,
  reason: RecipientReason | null,
  reply: SmtpReply | undefined,
) => AttemptRecord;

/** Whether the connection can carry more, and what the destination's window learns. */
export type SendFailure =
  /**
   * A pooled session the server had closed while it was idle: nothing of this transaction
   * reached a server that answered, so the recipient goes back to its destination untried.
   */
  | { requeue: true }
  | {
      requeue: false;
      outcome: Outcome;
      attempt: AttemptRecord | undefined;
      /** False when the connection is gone or closing (closed, reset, timed out, 421). */
      usable: boolean;
      /**
       * `failed`: the connection failed or the server is shedding load (421): negative
       * feedback. `answered`: the server answered for this recipient: the connection works.
       */
      feedback: 'failed' | 'answered' | 'none';
    };

const CONNECTION_LOST = new Set(['closed', 'network', 'timeout', 'protocol', 'tls']);

export interface FailureContext {
  /** The recipient asked for REQUIRETLS (RFC 8689). */
  requireTls: boolean;
  /** The session came from the pool and no reply has been read on it since. */
  staleSuspect: boolean;
  /** The recipient was put back once before (it is never put back twice). */
  requeued: boolean;
  attempt: AttemptOf;
  deferOrExpire: (reason: RecipientReason, detail: string) => Outcome;
}

export function sendFailure(error: SmtpError, c: FailureContext): SendFailure {
  const lost = CONNECTION_LOST.has(error.kind);
  if (lost && c.staleSuspect && !c.requeued && error.reply === undefined) return { requeue: true };
  if (error.kind === 'usage' && c.requireTls) {
    // Thrown before anything was written: the session is untouched.
    const detail = `the message requires REQUIRETLS (RFC 8689): ${error.message}`;
    return {
      requeue: false,
      outcome: attemptOutcome('refused', { reason: 'requiretls-not-supported', detail }),
      attempt: c.attempt('refuse', 'requiretls-not-supported', undefined),
      usable: true,
      feedback: 'none',
    };
  }
  const reply = error.reply;
  // 421: the server is closing the connection (RFC 5321 3.8), typically shedding load.
  const closing = reply?.code === 421;
  // A refused RSET says nothing about the recipient: never a bounce.
  const permanent = error.permanent && error.step !== 'rset';
  if (permanent) {
    const detail = `${error.step.toUpperCase()}: ${formatReply(reply!)}`;
    return {
      requeue: false,
      outcome: attemptOutcome('rejected', { reason: 'smtp-permanent-error', detail }),
      attempt: c.attempt('bounce', 'smtp-permanent-error', reply),
      usable: !lost,
      feedback: 'answered',
    };
  }
  const reason: ReasonCode =
    reply !== undefined
      ? 'smtp-temporary-error'
      : error.kind === 'timeout'
        ? 'smtp-timeout'
        : 'connection-failed';
  const detail =
    reply !== undefined ? `${error.step.toUpperCase()}: ${formatReply(reply)}` : error.message;
  return {
    requeue: false,
    outcome: c.deferOrExpire(reason, detail),
    attempt: c.attempt('defer', reason, reply),
    usable: !lost && !closing && error.step !== 'rset',
    feedback: lost || closing ? 'failed' : reply !== undefined ? 'answered' : 'none',
  };
}
