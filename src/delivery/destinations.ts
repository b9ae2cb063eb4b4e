// Destinations: the worker's view of where claimed recipients go. A destination is one
// recipient domain at one account policy level (sessions are verified per level). Each keeps
// its claimed recipients waiting for a connection, the connections serving it now, and its
// concurrency window, which follows Postfix's scheduler (SCHEDULER_README, "concurrency
// feedback"): a destination starts with a few connections, gains about one per window's worth
// of deliveries, and halves on every failed connection, 421 or 4xx greeting; at one
// connection, repeated failures suspend it for a while and its recipients are deferred
// without a connection, as Postfix does for a "dead" destination.
//
// The feedback rule is in one place: `delivered()` and `failed()` below.

import type { ClaimedRecipient } from '../recipients/attempts.ts';
import type { PolicyLevel } from '../vocabulary/policy-levels.ts';
import type { RecipientReason } from '../vocabulary/reasons.ts';

export interface ConcurrencyLimits {
  /** Connections at once over all destinations (the process-wide cap). */
  total: number;
  /** Most connections at once per destination. */
  perDestination: number;
  /** The window a destination starts with. */
  initial: number;
  /** Most connections at once per MX host; 0: no limit. */
  perHost: number;
  /** Messages in flight per connection at most (the pipeline depth). */
  depth: number;
  /**
   * How long a failing destination is suspended (default SUSPEND_MS): the worker takes the
   * first retry's delay when shorter, so that a suspension never outlasts the retries it defers.
   */
  suspendMs?: number;
}

/** Failed connections in a row, at a window of one, after which a destination is suspended. */
export const SUSPEND_AFTER_FAILURES = 3;
/**
 * How long a suspended destination gets no connection. Postfix waits its minimal backoff
 * (300 s) before it tries a dead destination again; a minute is this worker's first retry.
 */
export const SUSPEND_MS = 60_000;
/** A destination without waiting recipients or connections is forgotten after this long. */
const FORGET_AFTER_MS = 600_000;

/** A claimed recipient waiting for a connection. */
export interface Waiting {
  r: ClaimedRecipient;
  /** When this worker claimed it (its lease runs from then). */
  claimedAt: number;
  /** Put back once already because the connection it was sent on had gone stale. */
  requeued: boolean;
}

export interface Suspension {
  until: number;
  reason: RecipientReason;
  detail: string;
}

export class Destination {
  readonly key: string;
  readonly domain: string;
  readonly level: PolicyLevel;
  /** Claimed recipients not yet taken by a connection, oldest first. */
  waiting: Waiting[] = [];
  /** Connections serving it now, opening ones included. */
  connections = 0;
  /** Of those, the ones still being opened (assessment and handshake). */
  opening = 0;
  /** Free pipeline places of its open connections (depth minus messages in flight). */
  free = 0;
  /** The concurrency window: connections it may have now. */
  window: number;
  /** The MX host of its last session (for the per-host limit). */
  host: string | undefined;
  /** Failed connections since the last delivery. */
  failures = 0;
  suspended: Suspension | undefined;
  lastActive: number;

  constructor(key: string, domain: string, level: PolicyLevel, initial: number, now: number) {
    this.key = key;
    this.domain = domain;
    this.level = level;
    this.window = initial;
    this.lastActive = now;
  }
}

/**
 * A connection being opened for a destination, and the MX host it was counted against (the
 * destination's host when known), until the session tells the host it really went to.
 */
export interface Opening {
  destination: Destination;
  countedHost: string | undefined;
}

/** How a lingering connection was woken (see Destinations.linger). */
export type LingerEnd =
  | { kind: 'own' }
  | { kind: 'switch'; opening: Opening }
  | { kind: 'timeout' }
  | { kind: 'stop' };

interface Lingerer {
  d: Destination;
  host: string;
  end: (why: LingerEnd) => void;
}

export function destinationKey(domain: string, level: PolicyLevel): string {
  return `${domain}\0${level}`;
}

export class Destinations {
  readonly limits: ConcurrencyLimits;
  readonly #all = new Map<string, Destination>();
  /** Destinations with waiting recipients; the front has waited longest for a connection. */
  readonly #ready = new Set<Destination>();
  readonly #hosts = new Map<string, number>();
  readonly #lingering = new Set<Lingerer>();
  /** Connections open (or opening) over all destinations, lingering ones included. */
  connections = 0;
  /** Claimed recipients waiting in all destinations. */
  waiting = 0;

  constructor(limits: ConcurrencyLimits) {
    this.limits = limits;
  }

  /** Adds a claimed recipient to its destination. */
  add(r: ClaimedRecipient, claimedAt: number): Destination {
    const key = destinationKey(r.domain, r.policyLevel);
    let d = this.#all.get(key);
    if (d === undefined) {
      d = new Destination(key, r.domain, r.policyLevel, this.limits.initial, claimedAt);
      this.#all.set(key, d);
    }
    d.waiting.push({ r, claimedAt, requeued: false });
    this.waiting++;
    this.#ready.add(d);
    this.#wakeOwn(d);
    return d;
  }

  /** Puts a recipient back at the front of its destination (it was not sent after all). */
  requeue(d: Destination, entry: Waiting): void {
    d.waiting.unshift({ ...entry, requeued: true });
    this.waiting++;
    this.#ready.add(d);
    this.#wakeOwn(d);
  }

  /** The next waiting recipient of `d`, oldest first. */
  take(d: Destination): Waiting | undefined {
    const entry = d.waiting.shift();
    if (entry === undefined) return undefined;
    this.waiting--;
    if (d.waiting.length === 0) this.#ready.delete(d);
    return entry;
  }

  /** Every waiting recipient of `d` (to record one verdict for all, or to hand them back). */
  takeAll(d: Destination): Waiting[] {
    const all = d.waiting;
    d.waiting = [];
    this.waiting -= all.length;
    this.#ready.delete(d);
    return all;
  }

  /** Waiting recipients claimed before `before`, taken out (their lease is running out). */
  takeClaimedBefore(before: number): Waiting[] {
    const old: Waiting[] = [];
    for (const d of [...this.#ready]) {
      const keep = d.waiting.filter((w) => w.claimedAt >= before);
      if (keep.length === d.waiting.length) continue;
      old.push(...d.waiting.filter((w) => w.claimedAt < before));
      this.waiting -= d.waiting.length - keep.length;
      d.waiting = keep;
      if (keep.length === 0) this.#ready.delete(d);
    }
    return old;
  }

  /** Every waiting recipient of every destination (on shutdown). */
  takeEverything(): Waiting[] {
    return [...this.#ready].flatMap((d) => this.takeAll(d));
  }

  /**
   * The destinations that should get one more connection now, each counted as opening, in
   * the order they have waited: a destination gets another connection while its waiting
   * recipients outnumber the pipeline places its connections (opening ones included) will
   * have, its window and the per-host limit allow, and the process is under its cap.
   */
  toOpen(now: number): Opening[] {
    const opened: Opening[] = [];
    const served = new Set<Destination>();
    for (const d of this.#ready) {
      while (this.#mayConnect(d, now) && this.#wantsAnother(d)) {
        if (this.connections < this.limits.total) {
          opened.push(this.#connect(d));
          served.add(d);
          continue;
        }
        // At the cap: the connection lingering longest on the same host (or on any, while
        // d's host is unknown) moves on to d. Under the cap a destination gets a connection
        // of its own instead: a handshake once, rather than an assessment per message for
        // destinations that take turns with one connection (measured: 3,358 assessments
        // for 6,000 messages over 100 domains arriving at 350/s, 100 with connections of
        // their own).
        const lingerer = this.#lingererFor(d);
        if (lingerer === undefined) break;
        this.#lingering.delete(lingerer);
        served.add(d);
        lingerer.end({ kind: 'switch', opening: this.#connect(d) });
      }
      if (this.connections >= this.limits.total && this.#lingering.size === 0) break;
    }
    // Served destinations go to the back: the next call starts with the ones that waited.
    for (const d of served) {
      this.#ready.delete(d);
      if (d.waiting.length > 0) this.#ready.add(d);
    }
    return opened;
  }

  /**
   * A destination with waiting recipients that an open connection to `host` could serve
   * next (its own queue is empty), counted as opening: same MX host first, then one whose
   * host is not known yet. The connection offers its session to that destination's
   * assessment; if the assessment wants another host, the session goes back to the pool.
   */
  switchTo(host: string, now: number): Opening | undefined {
    let unknown: Destination | undefined;
    for (const d of this.#ready) {
      if (!this.#mayConnect(d, now, host)) continue;
      if (!this.#wantsAnother(d)) continue;
      if (d.host === host) return this.#switch(d);
      if (d.host === undefined) unknown ??= d;
    }
    return unknown === undefined ? undefined : this.#switch(unknown);
  }

  /**
   * Whether `d` needs one more connection: its first, as soon as anything waits; another
   * only when more than a whole pipeline waits beyond the free places of its connections
   * (opening ones counted full). Fuller pipelines on fewer connections cost less CPU per
   * message (one write and one read per flight), and a handshake is about 4 ms of CPU
   * (measured: 200 connections opened at once to one host took 0.8 s of CPU); a busy
   * destination still gets its whole window.
   */
  #wantsAnother(d: Destination): boolean {
    if (d.connections === 0) return d.waiting.length > 0;
    return d.waiting.length > d.free + (d.opening + 1) * this.limits.depth;
  }

  #switch(d: Destination): Opening {
    const opening = this.#connect(d);
    this.#ready.delete(d);
    this.#ready.add(d);
    return opening;
  }

  #mayConnect(d: Destination, now: number, fromHost?: string): boolean {
    if (d.suspended !== undefined && d.suspended.until > now) return false;
    if (d.connections >= Math.min(Math.floor(d.window), this.limits.perDestination)) return false;
    // A connection that moves on from `fromHost` to a destination on the same host adds none.
    if (this.limits.perHost > 0 && d.host !== undefined && d.host !== fromHost) {
      if ((this.#hosts.get(d.host) ?? 0) >= this.limits.perHost) return false;
    }
    return true;
  }

  #connect(d: Destination): Opening {
    d.connections++;
    d.opening++;
    this.connections++;
    if (d.host !== undefined) this.#hostUp(d.host);
    return { destination: d, countedHost: d.host };
  }

  #hostUp(host: string): void {
    this.#hosts.set(host, (this.#hosts.get(host) ?? 0) + 1);
  }

  #hostDown(host: string): void {
    const n = (this.#hosts.get(host) ?? 1) - 1;
    if (n > 0) this.#hosts.set(host, n);
    else this.#hosts.delete(host);
  }

  /** The connection is open, to `host`, with `depth` pipeline places. */
  opened(o: Opening, host: string, depth: number, now: number): void {
    const d = o.destination;
    d.opening--;
    d.free += depth;
    d.host = host;
    d.lastActive = now;
    if (o.countedHost !== host) {
      if (o.countedHost !== undefined) this.#hostDown(o.countedHost);
      this.#hostUp(host);
    }
  }

  /** The connection could not be opened. */
  notOpened(o: Opening): void {
    const d = o.destination;
    d.opening--;
    if (o.countedHost !== undefined) this.#hostDown(o.countedHost);
    this.#release(d);
  }

  /** An open connection to `host` stops serving `d` (`free` of its places were unused). */
  closed(d: Destination, host: string, free: number, now: number): void {
    d.free -= free;
    d.lastActive = now;
    this.#hostDown(host);
    this.#release(d);
  }

  #release(d: Destination): void {
    d.connections--;
    this.connections--;
  }

  /** Whether `d` is suspended now (its recipients are deferred without a connection). */
  suspension(d: Destination, now: number): Suspension | undefined {
    if (d.suspended === undefined) return undefined;
    if (d.suspended.until > now) return d.suspended;
    d.suspended = undefined;
    return undefined;
  }

  /**
   * A connection whose destination has nothing waiting stays with it for up to `ms`, as
   * Postfix keeps a connection cached for its destination: the destination's next
   * recipients go out on the same verified session, without a new assessment, and the
   * connection is handed to another destination as soon as one wants a connection
   * (toOpen). Ends early when `d` gets recipients (`own`) or on stopLingering (`stop`).
   */
  linger(d: Destination, host: string, ms: number): Promise<LingerEnd> {
    if (d.waiting.length > 0) return Promise.resolve({ kind: 'own' });
    return new Promise<LingerEnd>((resolve) => {
      const lingerer: Lingerer = {
        d,
        host,
        end: (why) => {
          clearTimeout(timer);
          resolve(why);
        },
      };
      const timer = setTimeout(() => {
        this.#lingering.delete(lingerer);
        resolve({ kind: 'timeout' });
      }, ms);
      // A lingering connection never keeps the process alive (stop() ends it).
      timer.unref();
      this.#lingering.add(lingerer);
    });
  }

  /** Ends every linger (the worker stops or closes its sessions). */
  stopLingering(): void {
    const all = [...this.#lingering];
    this.#lingering.clear();
    for (const lingerer of all) lingerer.end({ kind: 'stop' });
  }

  #wakeOwn(d: Destination): void {
    if (this.#lingering.size === 0) return;
    for (const lingerer of this.#lingering) {
      if (lingerer.d !== d) continue;
      this.#lingering.delete(lingerer);
      lingerer.end({ kind: 'own' });
      return;
    }
  }

  #lingererFor(d: Destination): Lingerer | undefined {
    if (this.#lingering.size === 0) return undefined;
    for (const lingerer of this.#lingering) {
      if (lingerer.d === d) continue;
      if (d.host === undefined || d.host === lingerer.host) return lingerer;
    }
    return undefined;
  }

  /** Suspended destinations that still have waiting recipients (to defer them). */
  suspendedWithWaiting(now: number): Destination[] {
    const found: Destination[] = [];
    for (const d of this.#ready) if (this.suspension(d, now) !== undefined) found.push(d);
    return found;
  }

  /**
   * Positive feedback: a message went through (delivered, or answered for its recipient).
   * Returns true when the window now allows one more connection.
   */
  delivered(d: Destination): boolean {
    d.failures = 0;
    const before = Math.floor(d.window);
    d.window = Math.min(this.limits.perDestination, d.window + 1 / d.window);
    return Math.floor(d.window) > before;
  }

  /**
   * Negative feedback: a connection to `d` failed, timed out, or the server answered 421 or a
   * 4xx greeting. The window halves (at least one connection stays); after
   * SUSPEND_AFTER_FAILURES such failures in a row at one connection, `d` is suspended.
   * Returns the suspension when this failure started one.
   */
  failed(
    d: Destination,
    now: number,
    reason: RecipientReason,
    detail: string,
  ): Suspension | undefined {
    d.failures++;
    d.window = Math.max(1, d.window / 2);
    if (d.window > 1 || d.failures < SUSPEND_AFTER_FAILURES) return undefined;
    if (d.suspended !== undefined && d.suspended.until > now) return undefined;
    const suspendMs = this.limits.suspendMs ?? SUSPEND_MS;
    d.suspended = {
      until: now + suspendMs,
      reason,
      detail: `delivery to ${d.domain} suspended for ${suspendMs / 1000} s after ${d.failures} failed connections in a row: ${detail}`,
    };
    return d.suspended;
  }

  /** Destinations with this many waiting recipients are not claimed for (held memory). */
  get saturation(): number {
    return this.limits.perDestination * this.limits.depth * 2;
  }

  /** Domains whose waiting recipients reach `saturation`: the next claim skips them. */
  saturatedDomains(): string[] {
    const domains: string[] = [];
    for (const d of this.#ready) if (d.waiting.length >= this.saturation) domains.push(d.domain);
    return domains;
  }

  /** Forgets destinations idle for a while (their windows start afresh next time). */
  sweep(now: number): void {
    for (const [key, d] of this.#all) {
      if (d.connections === 0 && d.waiting.length === 0 && now - d.lastActive > FORGET_AFTER_MS) {
        this.#all.delete(key);
      }
    }
  }

  /** The destination of `domain` at `level`, if known (tests and metrics). */
  get(domain: string, level: PolicyLevel): Destination | undefined {
    return this.#all.get(destinationKey(domain, level));
  }
}
