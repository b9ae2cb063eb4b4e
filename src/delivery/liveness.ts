// Worker liveness: a worker that stopped (SIGKILL, a lost machine, an OOM kill) has its claims
// taken back within seconds instead of when their lease runs out (600 s by default). Seen
// before this: a service killed five times during a send and restarted at once left 904
// recipients queued and untouched for five minutes, waiting out the killed processes' leases.
//
// Each worker has a row in `workers` (registered at start) and beats every BEAT_MS: its row's
// `beats` counter goes up by one. Every worker also observes the others at each beat: a
// worker whose counter has not changed for `staleMs` (SECUREMAIL_WORKER_STALE_SECONDS), as
// measured on the observer's own monotonic clock, is dead; its claims are taken back (the
// recipients keep their state and attempts and are claimable at once) and its row removed.
// No wall clocks of two machines are compared, so a skewed clock judges nobody dead.
//
// - A slow worker keeps its claims: the beat runs on its own timer, not in the delivery path,
//   so a long SMTP transaction does not stop it.
// - An observer whose own beat fails (the database is away) forgets what it observed: when
//   the database comes back, every worker gets `staleMs` afresh, so an outage does not make
//   everyone look dead to everyone.
// - Claims whose owner has no row (a row removed, or claims from before the workers table)
//   are taken back too, once they have stayed ownerless for `staleMs`.
// - A worker whose row was removed while it lived (paused longer than `staleMs`) registers
//   again; its outcomes for the claims it lost are not written (the lease check), and a
//   recipient it sent meanwhile may be sent twice (docs/reliability.md).
// - On a database only one process uses (SQLite: no multiple writers), every other claim
//   belongs to a process that is gone: a starting worker takes them all back at once.
//
// How fast: an observer sees the last change of a dead worker's counter at most one beat
// after it, and judges it at the first beat after `staleMs`: with the defaults (10 s, beats
// every 2 s) its claims are back about 12 s after it stopped, 14 s at worst.

import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { takeBackClaims, takeBackOtherClaims } from '../recipients/attempts.ts';
import type { Store } from '../store/database.ts';
import { StorageOutage } from '../store/unavailable.ts';
import {
  beatWorker,
  listWorkerBeats,
  ownersWithoutWorker,
  registerWorker,
} from '../store/workers.repository.ts';

/** How often a worker beats and observes the others. */
export const BEAT_MS = 2_000;

export interface LivenessDeps {
  store: Store;
  /** The worker's lease owner id. */
  owner: string;
  /** A counter standing still this long means its worker is dead. */
  staleMs: number;
  logger: Logger;
  /** Wall clock, only for the row's timestamps (for people reading the table). */
  now: () => number;
  /** The observer's own clock for staleness (default performance.now: monotonic). */
  monotonic?: () => number;
  /** Beat and observation interval (default BEAT_MS; tests shorten it). */
  beatMs?: number;
}

interface Seen {
  beats: number;
  /** When (monotonic) the counter was last seen to change, or first seen. */
  changedAt: number;
}

export class Liveness {
  readonly #deps: LivenessDeps;
  readonly #monotonic: () => number;
  readonly #outage: StorageOutage;
  /** Other workers' counters as last seen. */
  readonly #seen = new Map<string, Seen>();
  /** Owners of claims without a row, and when (monotonic) they were first seen so. */
  readonly #orphans = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #tick: Promise<void> = Promise.resolve();
  #registered = false;
  #stopped = false;
  /** Claims taken back from others so far (tests, logs). */
  takenBack = 0;

  constructor(deps: LivenessDeps) {
    this.#deps = deps;
    this.#monotonic = deps.monotonic ?? (() => performance.now());
    this.#outage = new StorageOutage(deps.logger, 'worker heartbeat');
  }

  get registered(): boolean {
    return this.#registered;
  }

  /**
   * Registers the worker (and on a one-process database takes back every other claim), then
   * beats on its own timer. Returns false when the database could not be reached; the beats
   * register it as soon as it can.
   */
  async start(): Promise<boolean> {
    this.#stopped = false;
    try {
      await this.#register();
      this.#outage.succeeded();
    } catch (error) {
      this.#outage.failed(error);
    }
    this.#schedule();
    return this.#registered;
  }

  /**
   * Stops beating, gives back every claim the worker still holds and removes its row (one
   * transaction). Called after the worker recorded or handed back what it held.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#tick;
    try {
      const left = await takeBackClaims(this.#deps.store.db, this.#deps.owner);
      if (left > 0) this.#deps.logger.info({ claims: left }, 'gave back claims on stop');
    } catch (error) {
      // Its row stays; the other workers take its claims back after staleMs.
      this.#deps.logger.warn({ err: error }, 'could not give back claims on stop');
    }
    this.#registered = false;
  }

  /** One beat and one observation now (tests); the timer does this every beatMs. */
  beatNow(): Promise<void> {
    this.#tick = this.#tick.then(() => this.#beatAndObserve());
    return this.#tick;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      void this.beatNow().finally(() => this.#schedule());
    }, this.#deps.beatMs ?? BEAT_MS);
    // A beat never keeps the process alive on its own.
    this.#timer.unref();
  }

  async #register(): Promise<void> {
    const { store, owner, now, logger } = this.#deps;
    await registerWorker(store.db, { id: owner, host: hostname(), pid: process.pid, now: now() });
    this.#registered = true;
    if (!store.capabilities.multipleWriters) {
      const n = await takeBackOtherClaims(store.db, owner);
      if (n > 0) {
        this.takenBack += n;
        logger.warn(
          { claims: n },
          'took back the claims of a process that stopped without giving them back',
        );
      }
    }
  }

  async #beatAndObserve(): Promise<void> {
    if (this.#stopped) return;
    const { store, owner, now, logger } = this.#deps;
    try {
      if (!this.#registered) {
        await this.#register();
      } else if (!(await beatWorker(store.db, owner, now()))) {
        logger.warn(
          {},
          'this worker was judged stopped by another (no heartbeat for too long); registering again',
        );
        await this.#register();
      }
      this.#outage.succeeded();
    } catch (error) {
      // Our own beat failed: what we saw may be the outage, not the others' death.
      this.#seen.clear();
      this.#orphans.clear();
      this.#outage.failed(error);
      return;
    }
    try {
      await this.#observe();
    } catch (error) {
      this.#seen.clear();
      this.#orphans.clear();
      this.#outage.failed(error);
    }
  }

  async #observe(): Promise<void> {
    const { store, owner, staleMs } = this.#deps;
    const at = this.#monotonic();
    const stale: string[] = [];
    const present = new Set<string>();
    for (const { id, beats } of await listWorkerBeats(store.db)) {
      if (id === owner) continue;
      present.add(id);
      const seen = this.#seen.get(id);
      if (seen === undefined || seen.beats !== beats) {
        this.#seen.set(id, { beats, changedAt: at });
      } else if (at - seen.changedAt >= staleMs) {
        stale.push(id);
      }
    }
    for (const id of this.#seen.keys()) if (!present.has(id)) this.#seen.delete(id);

    const orphans = new Set(await ownersWithoutWorker(store.db));
    orphans.delete(owner);
    for (const id of this.#orphans.keys()) if (!orphans.has(id)) this.#orphans.delete(id);
    for (const id of orphans) {
      const since = this.#orphans.get(id);
      if (since === undefined) this.#orphans.set(id, at);
      else if (at - since >= staleMs) stale.push(id);
    }

    for (const id of stale) {
      const silentMs = at - (this.#seen.get(id)?.changedAt ?? this.#orphans.get(id) ?? at);
      const claims = await takeBackClaims(store.db, id);
      this.#seen.delete(id);
      this.#orphans.delete(id);
      this.takenBack += claims;
      this.#deps.logger.warn(
        { worker: id, claims, silentSeconds: Math.round(silentMs / 1000) },
        'a worker stopped beating: took back its claims',
      );
    }
  }
}
