// One connection's life in the worker: a verified session for a destination from the
// security engine (a pooled one when it satisfies the domain's assessment, else a new one),
// then the destination's waiting recipients on it, several transactions in flight when the
// server allows (smtp-client.ts), each outcome committed before its place in the pipeline
// is used again. When the destination has nothing more, the connection offers itself to
// another destination with waiting recipients (same MX host first), so it never idles while
// work waits; when none can use it, it stays with its destination for a moment (LINGER_MS)
// and then goes back to the pool.
//
// Bound on duplicates: a place in the pipeline is free again only once its outcome is
// committed, so at a crash at most `depth` messages per connection were sent (or answered
// 250) without their outcome on disk. Those may go twice; nothing is lost.

import type { Logger } from 'pino';
import { attemptRecord } from '../evidence/record.ts';
import { attemptOutcome, type Outcome } from '../recipients/attempts.ts';
import type { SecureSessionResult } from '../security/open-session.ts';
import { formatReply, SmtpError } from '../security/smtp-reply.ts';
import type { AttemptRecord, SharedEvidence } from '../store/delivery.repository.ts';
import type { PolicyLevel } from '../vocabulary/policy-levels.ts';
import type { RecipientReason } from '../vocabulary/reasons.ts';
import type { Destination, Destinations, Opening, Waiting } from './destinations.ts';
import type { MessagePreparer, PreparedMessage } from './message-preparer.ts';
import { type AttemptOf, sendFailure } from './send-outcome.ts';
import type { PooledSession, SessionPool } from './session-pool.ts';

export type Acquired =
  | { ok: true; pooled: PooledSession; evidence: SharedEvidence; reused: boolean }
  | { ok: false; result: SecureSessionResult };

/**
 * How long a connection whose destination has nothing waiting stays with it (Postfix keeps a
 * cached connection 2 s). Measured (bench, end to end on PostgreSQL, 6,000 messages arriving
 * at about 350/s over 100 domains): without it every message had an assessment and a
 * session of its own (6,000 acquisitions, 2.33-2.43 ms CPU per message against 2.02-2.23
 * for rounds).
 */
export const LINGER_MS = 1_000;

/**
 * How long one assessment of a destination (its MX, MTA-STS and DANE answers, and the
 * session's check against them) carries its recipients: a connection that has been busy
 * with its destination this long takes no more and goes back to the pool, and the next
 * recipients get a fresh assessment (which may take the same session again). Bounds how long
 * a change of a domain's policy (a new TLSA record, an MTA-STS policy) can go unnoticed by a
 * busy connection, beside the DNS cache's TTLs; the worker assessed once per claim round
 * before, about once a second at full speed.
 */
const ASSESSMENT_REUSE_MS = 60_000;

/**
 * Bytes of messages in flight on one connection before it waits for replies (one message is
 * always allowed): large messages go one at a time, small ones fill the pipeline.
 */
const BYTES_IN_FLIGHT_MAX = 1024 * 1024;

/** Reasons of a failed assessment that tell of an overloaded or failing server. */
const CONNECTION_TROUBLE = new Set<RecipientReason>([
  'connection-failed',
  'smtp-timeout',
  'smtp-temporary-error',
  'tls-handshake-failed',
  'starttls-refused',
]);

export interface ConnectionDeps {
  destinations: Destinations;
  pool: SessionPool;
  messages: MessagePreparer;
  /** Messages in flight per connection at most (the server may allow fewer). */
  depth: number;
  /** A verified session for `domain` at `level` (security engine over the pool). */
  acquire(domain: string, level: PolicyLevel): Promise<Acquired>;
  /** Records a recipient's outcome; resolves once committed (the recipient is let go). */
  record(w: Waiting, outcome: Outcome, attempt: AttemptRecord | undefined): Promise<void>;
  /** The domain refused or deferred: the same verdict for each recipient, evidence once. */
  recordVerdict(waiting: Waiting[], result: SecureSessionResult, startedAt: number): Promise<void>;
  /** Recipients not sent to: deferred (or expired past the retry window). */
  recordUntried(
    waiting: Waiting[],
    why: { reason: RecipientReason; detail: string; counted: boolean },
  ): Promise<void>;
  deferOrExpire(w: Waiting, reason: RecipientReason, detail: string): Outcome;
  /** Something changed that may let another connection start (dispatch soon). */
  changed(): void;
  /**
   * How long a connection whose destination has nothing waiting stays with it: LINGER_MS
   * while the worker claims continuously, 0 when it runs one batch (runOnce) or stops.
   */
  lingerMs(): number;
  logger: Logger;
  now: () => number;
}

/** Runs one connection, starting with `first` (already counted as opening). */
export async function runConnection(deps: ConnectionDeps, first: Opening): Promise<void> {
  const { destinations, pool, now } = deps;
  let opening = first;
  for (;;) {
    const d = opening.destination;
    const startedAt = now();
    let acquired: Acquired;
    try {
      acquired = await deps.acquire(d.domain, d.level);
    } catch (error) {
      destinations.notOpened(opening);
      deps.logger.error(
        { err: error, domain: d.domain },
        'security assessment failed unexpectedly',
      );
      await deps.recordUntried(destinations.takeAll(d), {
        reason: 'internal-error',
        detail: 'the security check failed unexpectedly; retrying',
        counted: true,
      });
      return;
    }
    if (!acquired.ok) {
      destinations.notOpened(opening);
      const result = acquired.result;
      if (result.verdict === 'defer' && CONNECTION_TROUBLE.has(result.reason)) {
        destinations.failed(d, now(), result.reason, result.message);
      }
      // No host of the domain passed now: every recipient waiting for it gets the verdict.
      await deps.recordVerdict(destinations.takeAll(d), result, startedAt);
      deps.changed();
      return;
    }
    const session = acquired.pooled.session;
    const host = session.options.host;
    const depth = session.inFlightLimit(deps.depth);
    destinations.opened(opening, host, depth, now());
    deps.changed();
    let usable = true;
    let next: Opening | undefined;
    try {
      for (;;) {
        usable = await sendWaiting(deps, d, acquired, depth, startedAt);
        if (!usable || !pool.fresh(acquired.pooled)) break;
        if (now() - startedAt >= ASSESSMENT_REUSE_MS) break;
        next = destinations.switchTo(host, now());
        const lingerMs = deps.lingerMs();
        if (next !== undefined || lingerMs <= 0) break;
        // A suspended destination takes nothing more from this connection (sendWaiting sends
        // nothing to it), yet its recipients still wait, so linger() would end at once with
        // `own`: the loop spun on resolved promises, never yielding to the event loop, until
        // the suspension (60 s) or the assessment's reuse time ran out. Seen (issue 15: 10,000
        // recipients of a server dropping after DATA): the event loop blocked 59.3 s, healthy
        // destinations' sessions timed out and 107 messages went twice. Reproduced with a
        // server that drops some messages and answers the others late (test/faults). The
        // connection goes back to the pool; dispatch defers the waiting recipients.
        if (destinations.suspension(d, now()) !== undefined) break;
        // Nothing waits anywhere this connection could serve: it stays with its destination
        // for a while, and the next recipients go out on this session and assessment.
        const woke = await destinations.linger(d, host, lingerMs);
        if (woke.kind === 'own' && now() - startedAt < ASSESSMENT_REUSE_MS) continue;
        if (woke.kind === 'switch') next = woke.opening;
        break;
      }
    } finally {
      destinations.closed(d, host, depth, now());
    }
    if (!usable) {
      void session.quit();
      if (next !== undefined) destinations.notOpened(next);
      deps.changed();
      return;
    }
    // Given back before the next acquisition, which takes it again when it fits.
    pool.give(acquired.pooled);
    deps.changed();
    if (next === undefined) return;
    opening = next;
  }
}

/**
 * Sends `d`'s waiting recipients on the session, up to `depth` at once, until none waits
 * (or `d` is suspended) and none is in flight. Returns whether the session is still usable.
 */
async function sendWaiting(
  deps: ConnectionDeps,
  d: Destination,
  acquired: Extract<Acquired, { ok: true }>,
  depth: number,
  /** When the destination was assessed for this session. */
  assessedAt: number,
): Promise<boolean> {
  const { destinations, now } = deps;
  const { pooled, evidence } = acquired;
  const session = pooled.session;
  let inFlight = 0;
  let bytes = 0;
  let usable = true;
  let failedFeedback = false;
  // A pooled session may have been closed by the server while idle: until a reply is read on
  // it, a lost connection sends its recipients back to the queue instead of deferring them.
  let answered = !acquired.reused;
  let wake: (() => void) | undefined;

  const attempt = async (w: Waiting): Promise<void> => {
    const r = w.r;
    const startedAt = now();
    const attemptOf = attemptOn(deps, pooled, w, evidence, startedAt);
    // RFC 6531: a non-ASCII local part needs SMTPUTF8, offered in the EHLO after TLS (the
    // only capabilities the session keeps). Without it the address cannot be written.
    if (/[\u0080-\uffff]/.test(r.address) && !session.capabilities.has('SMTPUTF8')) {
      const detail = `${r.address} is an internationalised address (RFC 6531) and ${session.options.host} does not offer SMTPUTF8`;
      await deps.record(
        w,
        attemptOutcome('failed', { reason: 'smtputf8-not-supported', detail }),
        attemptOf('fail', 'smtputf8-not-supported', undefined),
      );
      return;
    }
    let message: PreparedMessage;
    try {
      message = await deps.messages.preparedFor(r);
    } catch (error) {
      deps.logger.error(
        { err: error, messageId: r.messageId },
        'message cannot be prepared for sending',
      );
      const detail = error instanceof Error ? error.message : 'the message could not be prepared';
      await deps.record(
        w,
        attemptOutcome('failed', { reason: 'message-unavailable', detail }),
        attemptOf('fail', 'message-unavailable', undefined),
      );
      return;
    }
    if (!usable || !session.open) {
      // The connection failed while the message was being prepared: nothing was sent.
      destinations.requeue(d, w);
      deps.changed();
      return;
    }
    // Notifications go out with the null return path, so that they can never cause a bounce loop.
    const returnPath = r.messageKind === 'notification' ? '' : verpAddress(r);
    pooled.messages++;
    try {
      // RET=HDRS (RFC 3461 4.3): a bounce carries the headers, not the body, so no clear
      // copy of a body we keep sealed travels back to the bounce MX. The client adds it
      // only when the server offered DSN after STARTTLS (capabilities from before TLS are
      // forgotten); without the extension the parameter would make MAIL fail.
      const reply = await session.send(returnPath, r.address, message.signed, {
        mail: { size: message.size, requireTls: r.requireTls, body: '8BITMIME', ret: 'HDRS' },
      });
      answered = true;
      if (destinations.delivered(d)) deps.changed();
      await deps.record(
        w,
        attemptOutcome('delivered', { reason: null, detail: formatReply(reply) }),
        attemptOf('deliver', null, reply),
      );
    } catch (error) {
      if (!(error instanceof SmtpError)) throw error;
      const failure = sendFailure(error, {
        requireTls: r.requireTls,
        staleSuspect: !answered,
        requeued: w.requeued,
        attempt: attemptOf,
        deferOrExpire: (reason, detail) => deps.deferOrExpire(w, reason, detail),
      });
      if (failure.requeue) {
        usable = false;
        destinations.requeue(d, w);
        deps.changed();
        return;
      }
      if (error.reply !== undefined) answered = true;
      if (!failure.usable) usable = false;
      if (failure.feedback === 'answered') {
        if (destinations.delivered(d)) deps.changed();
      } else if (failure.feedback === 'failed' && !failedFeedback) {
        failedFeedback = true;
        destinations.failed(d, now(), failure.outcome.reason ?? 'connection-failed', error.message);
        deps.changed();
      }
      await deps.record(w, failure.outcome, failure.attempt);
    }
  };

  for (;;) {
    while (
      usable &&
      session.open &&
      inFlight < depth &&
      (inFlight === 0 || bytes < BYTES_IN_FLIGHT_MAX)
    ) {
      if (destinations.suspension(d, now()) !== undefined) break;
      // A session is not used beyond its age or message count (session-pool.ts), nor an
      // assessment beyond ASSESSMENT_REUSE_MS, however long the destination keeps it busy.
      if (!deps.pool.fresh(pooled) || now() - assessedAt >= ASSESSMENT_REUSE_MS) break;
      const w = destinations.take(d);
      if (w === undefined) break;
      inFlight++;
      d.free--;
      bytes += w.r.size;
      const size = w.r.size;
      void attempt(w)
        .catch(async (error: unknown) => {
          // A bug, not a verdict: the recipient is deferred, never lost.
          deps.logger.error(
            { err: error, recipient: w.r.id },
            'delivery attempt failed unexpectedly',
          );
          usable = false;
          await deps
            .recordUntried([w], {
              reason: 'internal-error',
              detail: 'the delivery failed unexpectedly; retrying',
              counted: true,
            })
            .catch((e: unknown) =>
              deps.logger.error({ err: e }, 'recording a failed attempt failed'),
            );
        })
        .finally(() => {
          inFlight--;
          d.free++;
          bytes -= size;
          wake?.();
        });
      // The next message is prepared (opened, signed) while this one is on its way.
      const next = d.waiting[0];
      if (next !== undefined) deps.messages.preparedFor(next.r).catch(() => {});
    }
    if (inFlight === 0) return usable && session.open;
    await new Promise<void>((resolve) => {
      wake = resolve;
    });
    wake = undefined;
  }
}

/** Makes the attempt records of one recipient on one session (the evidence is shared). */
function attemptOn(
  deps: ConnectionDeps,
  pooled: PooledSession,
  w: Waiting,
  evidence: SharedEvidence,
  startedAt: number,
): AttemptOf {
  const session = pooled.session;
  return (verdict, reason, reply) =>
    attemptRecord({
      startedAt,
      endedAt: deps.now(),
      verdict,
      reason,
      mxHost: session.options.host,
      reply: reply === undefined ? null : formatReply(reply),
      recipient: w.r.address,
      authentication: session.method,
      // The domain's assessment and the session's evidence are the same for every
      // recipient of the session and domain: serialised and stored once.
      session: evidence,
    });
}

/** The bounce address of one recipient: `bounce+<recipient id>@<bounce subdomain>.<domain>`. */
export function verpAddress(r: {
  id: string;
  bounceSubdomain: string;
  accountDomain: string;
}): string {
  return `bounce+${r.id}@${r.bounceSubdomain}.${r.accountDomain}`;
}
