// The delivery worker. Glossary: a *message* has *recipients*; the worker claims due
// recipients under a lease and hands each to its *destination* (recipient domain and account
// policy level, destinations.ts). Connections (connection.ts) each hold ONE session that the
// security engine verified for their destination (the check and the delivery are the same
// connection) and send that destination's recipients on it, each with its own envelope (VERP
// return path), several in flight when the server allows.
//
// Claiming is continuous, not in rounds: whenever there is room for another batch among the
// recipients held (claimed and not yet recorded; see #maxHeld), the next batch is claimed,
// and a connection that finishes a message takes the next one at once. At internet latency a
// round that waits for its slowest member leaves connections idle; issue 11 measured 165
// msg/s at 50 ms with 20 connections in rounds.
//
// Parts: the security engine with the session pool (pool-source.ts, session-pool.ts), the
// destinations and their concurrency (destinations.ts), one connection's life
// (connection.ts), what a failed transaction means (send-outcome.ts), the signed messages
// (message-preparer.ts), the group commit of outcomes (outcome-writer.ts); this file claims,
// dispatches connections, records verdicts and completes messages.

import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Resolver } from '../dns/types.ts';
import { attemptRecord, sessionEvidence } from '../evidence/record.ts';
import {
  type AttemptObserver,
  attemptOutcome,
  type ClaimedRecipient,
  claimRecipients,
  completeMessages,
  type Outcome,
  releaseLostClaims,
  releaseRecipients,
} from '../recipients/attempts.ts';
import type { StsPolicyCache } from '../security/mta-sts-cache.ts';
import { openSecureSession, type SecureSessionResult } from '../security/open-session.ts';
import type { SecurityOptions } from '../security/options.ts';
import type { Store } from '../store/database.ts';
import type { AttemptRecord } from '../store/delivery.repository.ts';
import { isStorageUnavailable, StorageOutage } from '../store/unavailable.ts';
import type { PolicyLevel } from '../vocabulary/policy-levels.ts';
import type { RecipientReason } from '../vocabulary/reasons.ts';
import { type Acquired, type ConnectionDeps, LINGER_MS, runConnection } from './connection.ts';
import { Destinations, SUSPEND_MS, type Waiting } from './destinations.ts';
import type { SigningKey } from './dkim-sign.ts';
import { Liveness } from './liveness.ts';
import { MessagePreparer } from './message-preparer.ts';
import { OutcomeWriter } from './outcome-writer.ts';
import { PoolSource } from './pool-source.ts';
import { nextAttempt, RETRY_BASE_MS } from './retry.ts';
import { SessionPool } from './session-pool.ts';

export { verpAddress } from './connection.ts';

export interface WorkerSettings {
  /** Recipients claimed at a time; at most twice as many are held. */
  batchSize: number;
  /** How long a claim holds before another worker may take the recipient. */
  leaseMs: number;
  /** How long a deferred recipient is retried before it ends `expired`. */
  retryWindowMs: number;
  /** The first retry's delay (default RETRY_BASE_MS), and how long a failing destination is suspended. */
  retryBaseMs?: number;
  /** Connections open at once, over all destinations. */
  concurrency: number;
  /** Most connections at once per destination (default 20). */
  destinationConcurrency?: number;
  /** Connections a destination starts with (default 5, at most destinationConcurrency). */
  initialConcurrency?: number;
  /** Most connections at once per MX host; 0 or absent: no limit. */
  hostConcurrency?: number;
  /** Messages in flight per connection (default 4). */
  pipelineDepth?: number;
  /** Pause before claiming again when there was nothing to do. */
  idleMs: number;
  /** How long a verified session stays open without use (default SESSION_IDLE_MS). */
  sessionIdleMs?: number;
  /** Threads for RSA DKIM signatures (0 or absent: sign on the event loop). */
  signingThreads?: number;
  /** A worker whose heartbeat stood still this long is dead (default 10 s; liveness.ts). */
  staleMs?: number;
  /** How often the heartbeat beats (default BEAT_MS; tests shorten it). */
  beatMs?: number;
}

/**
 * Pooled sessions: closed after 5 s without use (Postfix keeps cached connections 2 s; a
 * little more bridges a pause in the queue), not reused after 5 minutes (Postfix
 * smtp_connection_reuse_time_limit = 300 s) or 1,000 messages.
 */
export const SESSION_IDLE_MS = 5_000;
export const SESSION_MAX_AGE_MS = 300_000;
export const SESSION_MAX_MESSAGES = 1_000;

/**
 * Messages whose recipients became final are completed in one transaction once this many
 * gathered, or COMPLETE_EVERY_MS after the last completion, or when the worker has nothing
 * left (the worker completed them at the end of each round, one transaction per round).
 */
const COMPLETE_BATCH = 500;
const COMPLETE_EVERY_MS = 1_000;
/** How long a worker whose queue ran dry gathers what falls due before it claims again. */
const CLAIM_GATHER_MS = 50;
/** How often held recipients are checked against their lease while the worker is busy. */
const LEASE_CHECK_MS = 1_000;

export interface WorkerDeps {
  store: Store;
  masterKey: Buffer;
  resolver: Resolver;
  stsCache: StsPolicyCache;
  /** Security engine options (port, timeouts, CA, EHLO name); the policy level is per account. */
  security: Partial<Omit<SecurityOptions, 'policyLevel' | 'now'>>;
  settings: WorkerSettings;
  /** The keys to sign an account's mail with (decrypted). */
  signingKeys: (accountId: string) => Promise<SigningKey[]>;
  /** Called once per API message whose last recipient became final, when any of them was not delivered. */
  onMessageUndelivered: (messageId: string) => Promise<void>;
  logger: Logger;
  now: () => number;
  random?: () => number;
  /** Identifies this worker's claims. */
  owner?: string;
  /** Told of the attempts of each commit (metrics); see src/recipients/attempts.ts. */
  observeAttempts?: AttemptObserver | undefined;
}

/** What the worker has done so far (tests and the benchmark). */
export interface WorkerCounters {
  claims: number;
  claimed: number;
  /** Recipients whose outcome is committed. */
  recorded: number;
  /** Most connections open (or opening) at once. */
  peakConnections: number;
}

export class DeliveryWorker {
  readonly owner: string;
  readonly counters: WorkerCounters = { claims: 0, claimed: 0, recorded: 0, peakConnections: 0 };
  readonly #deps: WorkerDeps;
  readonly #pool: SessionPool;
  readonly #outcomes: OutcomeWriter;
  readonly #messages: MessagePreparer;
  readonly #stsCache: StsPolicyCache;
  readonly #destinations: Destinations;
  readonly #connections = new Set<Promise<void>>();
  #running = false;
  /** Set while stop() or close() runs: connections finish and do not linger. */
  #stopping = false;
  #loop: Promise<void> | undefined;
  /** Ends the claim loop's pause; `#wakeOnRoom` only when it waits for room to claim. */
  #wake: (() => void) | undefined;
  #wakeOnRoom = false;
  /**
   * The ids of the claimed recipients not yet recorded nor handed back: how many the worker
   * holds, and what tells its live leases from those of a claim whose answer was lost.
   */
  readonly #heldIds = new Set<string>();
  /**
   * A claim failed, perhaps after its COMMIT took effect (the connection dropped before the
   * answer): leases the worker never learned of may exist. Before the next claim they are
   * given back; without this they waited out the lease (10 minutes) while the worker lived.
   */
  #claimInDoubt = false;
  readonly #drained: Array<() => void> = [];
  #dispatchScheduled = false;
  /** Messages with a recipient that became final since the last completion. */
  readonly #touched = new Set<string>();
  #completing: Promise<void> = Promise.resolve();
  #lastCompletion = 0;
  readonly #connectionDeps: ConnectionDeps;
  /** The heartbeat, and the taking back of stopped workers' claims (started by start()). */
  readonly liveness: Liveness;
  /** The claim loop's view of a database outage (logged once, backoff 1 -> 10 s). */
  readonly #claimOutage: StorageOutage;
  /** Claims whose outcome could not be committed: given back once the database answers. */
  readonly #toGiveBack = new Set<string>();
  #givingBack: Promise<void> | undefined;
  readonly #giveBackOutage: StorageOutage;
  readonly #completeOutage: StorageOutage;

  constructor(deps: WorkerDeps) {
    this.#deps = deps;
    this.owner = deps.owner ?? `worker-${randomUUID()}`;
    const s = deps.settings;
    this.liveness = new Liveness({
      store: deps.store,
      owner: this.owner,
      staleMs: s.staleMs ?? 10_000,
      logger: deps.logger,
      now: deps.now,
      ...(s.beatMs === undefined ? {} : { beatMs: s.beatMs }),
    });
    this.#claimOutage = new StorageOutage(deps.logger, 'claiming recipients');
    this.#giveBackOutage = new StorageOutage(deps.logger, 'giving back uncommitted claims');
    this.#completeOutage = new StorageOutage(deps.logger, 'completing messages');
    const perDestination = s.destinationConcurrency ?? 20;
    this.#destinations = new Destinations({
      total: s.concurrency,
      perDestination,
      initial: Math.min(s.initialConcurrency ?? 5, perDestination),
      perHost: s.hostConcurrency ?? 0,
      depth: s.pipelineDepth ?? 4,
      suspendMs: Math.min(SUSPEND_MS, s.retryBaseMs ?? RETRY_BASE_MS),
    });
    this.#pool = new SessionPool({
      idleMs: s.sessionIdleMs ?? SESSION_IDLE_MS,
      maxAgeMs: SESSION_MAX_AGE_MS,
      maxMessages: SESSION_MAX_MESSAGES,
      now: deps.now,
    });
    this.#stsCache = deps.stsCache;
    this.#messages = new MessagePreparer({
      store: deps.store,
      masterKey: deps.masterKey,
      signingKeys: deps.signingKeys,
      signingThreads: s.signingThreads ?? 0,
      now: deps.now,
    });
    this.#outcomes = new OutcomeWriter({
      store: deps.store,
      owner: this.owner,
      now: deps.now,
      logger: deps.logger,
      observe: deps.observeAttempts,
    });
    this.#connectionDeps = {
      destinations: this.#destinations,
      pool: this.#pool,
      messages: this.#messages,
      depth: this.#destinations.limits.depth,
      acquire: (domain, level) => this.#acquire(domain, level),
      record: (w, outcome, attempt) => this.#record(w.r, outcome, attempt),
      recordVerdict: (waiting, result, startedAt) =>
        this.#recordVerdict(waiting, result, startedAt),
      recordUntried: (waiting, why) => this.#recordUntried(waiting, why),
      deferOrExpire: (w, reason, detail) => this.#deferOrExpire(w.r, reason, detail),
      changed: () => this.#dispatch(),
      lingerMs: () => (this.#running && !this.#stopping ? LINGER_MS : 0),
      logger: deps.logger,
      now: deps.now,
    };
  }

  /** Sessions opened and reused so far (for tests and the benchmark). */
  get sessionStats(): { opened: number; reused: number; idle: number; resumed: number } {
    return this.#pool.stats;
  }

  /** The destinations and their concurrency windows (tests). */
  get destinations(): Destinations {
    return this.#destinations;
  }

  /** Starts claiming continuously. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /**
   * Stops claiming, hands back the recipients still waiting for a connection, lets the
   * messages in flight finish and record their outcomes, closes the sessions, then gives back
   * whatever claim is left and removes the worker's row (liveness.ts).
   */
  async stop(): Promise<void> {
    this.#running = false;
    this.#wake?.();
    await this.#loop;
    await this.#handBack(this.#destinations.takeEverything());
    await this.close();
    await this.liveness.stop();
  }

  /**
   * Lets the connections finish what they sent (lingering ones at once), records it,
   * completes the messages, and closes the sessions (and the signing threads). The worker
   * can be used again afterwards (tests do).
   */
  async close(): Promise<void> {
    this.#stopping = true;
    try {
      this.#destinations.stopLingering();
      while (this.#connections.size > 0) {
        await Promise.all([...this.#connections]);
        this.#destinations.stopLingering();
      }
      await this.#complete();
      await this.#pool.close();
      this.#messages.close();
    } finally {
      this.#stopping = false;
    }
  }

  /** Wakes an idle worker, e.g. right after a submission. */
  poke(): void {
    this.#wake?.();
  }

  /**
   * One batch, start to end: claims up to a batch, delivers it, records every outcome and
   * completes the messages. Returns how many recipients were handled. Tests and tools drive
   * the worker with this; the service runs start().
   */
  async runOnce(): Promise<number> {
    const claimed = await this.#claim(this.#deps.settings.batchSize);
    if (claimed === 0) return 0;
    await this.#settled();
    await this.#complete();
    return claimed;
  }

  /**
   * Recipients held at most: two batches, or a batch beyond what every connection's pipeline
   * can have in flight, so that connections never wait for the next claim. Measured (bench,
   * 4,000 messages at 50 ms, 200 connections of depth 4): with two batches only, the
   * destinations ran dry while 500 were in flight.
   */
  get #maxHeld(): number {
    const { batchSize } = this.#deps.settings;
    const { total, depth } = this.#destinations.limits;
    return Math.max(2 * batchSize, batchSize + total * depth);
  }

  async #run(): Promise<void> {
    const { settings, now } = this.#deps;
    const batch = settings.batchSize;
    // Registered before the first claim, so no other worker takes this one's claims for
    // orphans; on SQLite this also takes back the claims of a process that was killed.
    await this.liveness.start();
    let lastLeaseCheck = now();
    while (this.#running) {
      try {
        if (now() - lastLeaseCheck >= LEASE_CHECK_MS) {
          lastLeaseCheck = now();
          await this.#handBackExpiring();
        }
        if (this.#heldIds.size <= this.#maxHeld - batch) {
          const limit = Math.min(batch, this.#maxHeld - this.#heldIds.size);
          const claimed = await this.#claim(limit);
          this.#claimOutage.succeeded();
          // A full claim: more may be due at once.
          if (claimed === limit) continue;
          if (claimed === 0) {
            if (this.#heldIds.size === 0) {
              await this.#complete();
              this.#destinations.sweep(now());
            }
            // Nothing due: a submission in this process (poke) or the pause ends the wait.
            await this.#sleep(settings.idleMs, false);
          }
          // The queue ran dry: what comes next arrives in a trickle (submissions, retries
          // falling due), gathered for a moment so that a claim takes a few dozen recipients,
          // not one per submission. Measured (bench, end to end, 8,000 messages at about
          // 870/s, main's rounds 1.27-1.32 ms CPU per message): a claim on every submission
          // 1.52-1.54 ms; gathering 25 ms 1.36-1.40; 50 ms 1.30-1.38 (about 50 per claim).
          await new Promise((resolve) => setTimeout(resolve, CLAIM_GATHER_MS));
          continue;
        }
        // Enough held: wait until the connections have taken a batch of it.
        await this.#sleep(LEASE_CHECK_MS, true);
      } catch (error) {
        // The database away: said once, and tried again after 1, 2, 4, 8, then every 10 s.
        await this.#sleep(this.#claimOutage.failed(error), false);
      }
    }
  }

  #sleep(ms: number, wakeOnRoom: boolean): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        if (this.#wake === done) this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
      this.#wakeOnRoom = wakeOnRoom;
    });
  }

  /** Claims up to `limit` due recipients and gives them to their destinations. */
  async #claim(limit: number): Promise<number> {
    const { store, settings, now } = this.#deps;
    if (this.#claimInDoubt) {
      const released = await releaseLostClaims(store.db, this.owner, [...this.#heldIds]);
      this.#claimInDoubt = false;
      if (released > 0) {
        this.#deps.logger.warn(
          { recipients: released },
          'gave back recipients of a claim whose answer was lost',
        );
      }
    }
    const at = now();
    let claimed: ClaimedRecipient[];
    try {
      claimed = await claimRecipients(store, {
        owner: this.owner,
        now: at,
        limit,
        leaseMs: settings.leaseMs,
        skipDomains: this.#destinations.saturatedDomains(),
      });
    } catch (error) {
      this.#claimInDoubt = true;
      throw error;
    }
    this.counters.claims++;
    if (claimed.length === 0) return 0;
    this.counters.claimed += claimed.length;
    for (const r of claimed) this.#heldIds.add(r.id);
    try {
      await this.#messages.hold(claimed);
    } catch (error) {
      // Only the small bodies' prefetch failed: each message reads its own when sent.
      this.#deps.logger.warn({ err: error }, 'reading the claimed messages failed');
    }
    for (const r of claimed) this.#destinations.add(r, at);
    this.#dispatch();
    return claimed.length;
  }

  /** Resolves when nothing is held any more (every claimed recipient recorded or handed back). */
  #settled(): Promise<void> {
    if (this.#heldIds.size === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.#drained.push(resolve));
  }

  /** Recipients are done with: recorded, or handed back. */
  #letGo(recipients: readonly ClaimedRecipient[]): void {
    for (const r of recipients) {
      this.#messages.letGo(r);
      this.#heldIds.delete(r.id);
    }
    if (this.#wakeOnRoom && this.#heldIds.size <= this.#maxHeld - this.#deps.settings.batchSize) {
      this.#wake?.();
    }
    if (this.#heldIds.size === 0) for (const resolve of this.#drained.splice(0)) resolve();
  }

  /** Starts the connections the destinations want now (once per event-loop turn). */
  #dispatch(): void {
    if (this.#dispatchScheduled) return;
    this.#dispatchScheduled = true;
    setImmediate(() => {
      this.#dispatchScheduled = false;
      this.#dispatchNow();
    });
  }

  #dispatchNow(): void {
    const now = this.#deps.now();
    // A suspended destination's recipients are deferred without a connection.
    for (const d of this.#destinations.suspendedWithWaiting(now)) {
      const s = d.suspended!;
      void this.#recordUntried(this.#destinations.takeAll(d), {
        reason: s.reason,
        detail: s.detail,
        counted: false,
      });
    }
    for (const opening of this.#destinations.toOpen(now)) {
      const connection = runConnection(this.#connectionDeps, opening)
        .catch((error: unknown) => {
          this.#deps.logger.error(
            { err: error, domain: opening.destination.domain },
            'a connection failed unexpectedly',
          );
        })
        .finally(() => {
          this.#connections.delete(connection);
          this.#dispatch();
        });
      this.#connections.add(connection);
    }
    this.counters.peakConnections = Math.max(
      this.counters.peakConnections,
      this.#destinations.connections,
    );
  }

  /** Records one outcome (group commit); the recipient is let go once it is committed. */
  async #record(
    r: ClaimedRecipient,
    outcome: Outcome,
    attempt: AttemptRecord | undefined,
  ): Promise<void> {
    try {
      await this.#outcomes.record(r, outcome, attempt, this.#touched);
      this.counters.recorded++;
    } catch (error) {
      // Not committed: the recipient keeps its state and is given back as soon as the
      // database answers, then claimed and tried again (a recipient the server accepted is
      // then sent twice; docs/reliability.md).
      if (isStorageUnavailable(error)) {
        this.#giveBack([r.id]);
        // Nothing more can be recorded now: what waits for a connection is not sent (it
        // would be sent again later), it is given back too.
        const waiting = this.#destinations.takeEverything().map((w) => w.r);
        this.#giveBack(waiting.map((w) => w.id));
        this.#letGo(waiting);
      } else {
        // Not the database being away: given back at once, the same failure could send the
        // message again and again; its lease runs out instead (SECUREMAIL_LEASE_SECONDS).
        this.#deps.logger.error({ err: error, recipient: r.id }, 'recording an outcome failed');
      }
    } finally {
      this.#letGo([r]);
      this.#maybeComplete();
    }
  }

  /** A domain the security engine refused or deferred: each recipient gets its verdict. */
  async #recordVerdict(
    waiting: Waiting[],
    result: SecureSessionResult,
    startedAt: number,
  ): Promise<void> {
    if (result.verdict === 'deliver') throw new Error('unreachable: a session without a pool');
    // The domain's assessment is the same for all of them: stored once.
    const evidence = sessionEvidence(result.domain, result.evidence);
    const attempt = (r: ClaimedRecipient): AttemptRecord =>
      attemptRecord({
        startedAt,
        endedAt: this.#deps.now(),
        verdict: result.verdict,
        reason: result.reason,
        mxHost: result.evidence.at(-1)?.mxHost ?? null,
        reply: null,
        recipient: r.address,
        session: evidence,
      });
    // Nothing is sent to a refused or deferred destination: its outcomes may share commits.
    await Promise.all(
      waiting.map(({ r }) => {
        const outcome: Outcome =
          result.verdict === 'refuse'
            ? attemptOutcome('refused', { reason: result.reason, detail: result.message })
            : this.#deferOrExpire(r, result.reason, result.message);
        return this.#record(r, outcome, attempt(r));
      }),
    );
  }

  /**
   * Recipients that were not sent to (the assessment threw, the destination is suspended):
   * deferred, or expired past the retry window.
   */
  async #recordUntried(
    waiting: Waiting[],
    why: { reason: RecipientReason; detail: string; counted: boolean },
  ): Promise<void> {
    await Promise.all(
      waiting.map(({ r }) =>
        this.#record(
          r,
          { ...this.#deferOrExpire(r, why.reason, why.detail), counted: why.counted },
          undefined,
        ),
      ),
    );
  }

  /**
   * Claims this worker holds in the database but no longer in memory (their outcome could not
   * be committed): released as soon as the database answers, tried again after 1, 2, 4, 8,
   * then every 10 s (once a minute made recovery after an outage take ~50 s).
   */
  #giveBack(ids: readonly string[]): void {
    for (const id of ids) this.#toGiveBack.add(id);
    this.#givingBack ??= (async () => {
      while (this.#toGiveBack.size > 0) {
        const batch = [...this.#toGiveBack].slice(0, 500);
        try {
          await releaseRecipients(this.#deps.store.db, batch, this.owner);
          for (const id of batch) this.#toGiveBack.delete(id);
          this.#giveBackOutage.succeeded();
        } catch (error) {
          const pause = this.#giveBackOutage.failed(error);
          await new Promise((resolve) => setTimeout(resolve, pause).unref());
        }
      }
    })().finally(() => {
      this.#givingBack = undefined;
    });
  }

  /** Hands recipients back untried (their lease ends now): on shutdown, or near lease end. */
  async #handBack(waiting: Waiting[]): Promise<void> {
    if (waiting.length === 0) return;
    const recipients = waiting.map((w) => w.r);
    const ids = recipients.map((r) => r.id);
    try {
      await releaseRecipients(this.#deps.store.db, ids, this.owner);
    } catch {
      // Given back as soon as the database answers.
      this.#giveBack(ids);
    } finally {
      this.#letGo(recipients);
    }
  }

  /**
   * Recipients that waited half their lease for a connection (a slow destination) are
   * handed back rather than sent when another worker may already be free to claim them.
   */
  async #handBackExpiring(): Promise<void> {
    const before = this.#deps.now() - this.#deps.settings.leaseMs / 2;
    await this.#handBack(this.#destinations.takeClaimedBefore(before));
  }

  #maybeComplete(): void {
    if (this.#touched.size === 0) return;
    const due =
      this.#touched.size >= COMPLETE_BATCH ||
      this.#deps.now() - this.#lastCompletion >= COMPLETE_EVERY_MS;
    if (due) void this.#complete();
  }

  /**
   * Completes the messages whose recipients are all final, in one transaction, and follows
   * up those with an undelivered recipient. Only messages with a recipient that became final
   * since the last completion are looked at. Measured when it ran once per round (bench,
   * 4,000 messages, noisy machine): 343 / 292 -> 377 / 391 msg/s against a commit per message;
   * completion tells which messages had an undelivered recipient, 20,000 SELECTs fewer for
   * 10,000 all-delivered messages.
   */
  #complete(): Promise<void> {
    const run = this.#completing.then(async () => {
      if (this.#touched.size === 0) return;
      const ids = [...this.#touched];
      this.#touched.clear();
      this.#lastCompletion = this.#deps.now();
      let completed: Awaited<ReturnType<typeof completeMessages>>;
      try {
        completed = await completeMessages(this.#deps.store.db, ids, this.#deps.now());
      } catch (error) {
        // Tried again with the next completion (an outage said once).
        for (const id of ids) this.#touched.add(id);
        this.#completeOutage.failed(error);
        return;
      }
      this.#completeOutage.succeeded();
      for (const { id: messageId, undelivered } of completed) {
        if (!undelivered) continue;
        try {
          await this.#deps.onMessageUndelivered(messageId);
        } catch (error) {
          this.#deps.logger.error(
            { err: error, messageId },
            'follow-up of a completed message failed',
          );
        }
      }
    });
    this.#completing = run;
    return run;
  }

  /**
   * A verified session for `domain` at `level` from the security engine, which is offered
   * the pooled sessions (PoolSource) before it opens a new one. The evidence names the
   * domain's assessment and the session's handshake.
   */
  async #acquire(domain: string, level: PolicyLevel): Promise<Acquired> {
    const { now } = this.#deps;
    const source = new PoolSource(this.#pool, level, now);
    const result = await openSecureSession(
      domain,
      { ...this.#deps.security, policyLevel: level, now: () => new Date(now()) },
      { resolver: this.#deps.resolver, stsCache: this.#stsCache },
      source,
    );
    if (result.verdict !== 'deliver') return { ok: false, result };
    if (source.session === undefined) throw new Error('unreachable: a session not from the pool');
    const reused = source.reused !== undefined;
    // A new connection counts against the process-wide cap with the idle ones: the oldest
    // idle sessions are closed to make room.
    if (!reused) {
      this.#pool.trim(
        Math.max(0, this.#deps.settings.concurrency - this.#destinations.connections),
      );
    }
    return {
      ok: true,
      pooled: source.session,
      evidence: sessionEvidence(result.domain, result.evidence, source.reused),
      reused,
    };
  }

  #deferOrExpire(r: ClaimedRecipient, reason: RecipientReason, detail: string): Outcome {
    const now = this.#deps.now();
    const next = nextAttempt(
      r.attempts + 1,
      now,
      r.acceptedAt,
      this.#deps.settings.retryWindowMs,
      this.#deps.random,
      this.#deps.settings.retryBaseMs,
    );
    if (next.retry) return attemptOutcome('deferred', { reason, detail, nextAttemptAt: next.at });
    const hours = Math.round(this.#deps.settings.retryWindowMs / 3_600_000);
    return attemptOutcome('expired', {
      reason,
      detail: `${detail} (gave up after ${hours} h of retries)`,
    });
  }

  /** Hands back claims this worker will not finish (used on shutdown between rounds). */
  async release(ids: string[]): Promise<void> {
    await releaseRecipients(this.#deps.store.db, ids, this.owner);
  }
}
