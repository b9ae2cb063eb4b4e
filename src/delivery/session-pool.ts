// Verified SMTP sessions kept open between groups and rounds. A session authenticated for an
// MX host may carry mail for every recipient domain whose own assessment that same
// authentication satisfies (issue 5), so sessions are keyed by what was verified: MX host,
// address, authentication method and policy level; the recipient domain is not part of the
// key. Whether a session may be used for a given domain is still decided per domain by
// sessionSatisfies() (security/session-reuse.ts) when it is taken from the pool.
//
// Measured (bench, 2,000 messages over 100 domains on one sink host): one session per
// (domain, policy) group per round made 400 TLS connections; the pool makes at most one per
// concurrent lane.

import type { X509Certificate } from 'node:crypto';
import type { HostEvidence } from '../security/evidence.ts';
import type { SmtpClient } from '../security/smtp-client.ts';
import type { ResumableSession, VerifiedHandshake } from '../security/tls-resumption.ts';
import type { AuthMethod, PolicyLevel } from '../vocabulary/policy-levels.ts';

export interface PooledSession {
  session: SmtpClient;
  key: string;
  /** The peer's certificates, read when the session was verified (leaf first). */
  chain: X509Certificate[];
  /** The evidence of the connection as it was verified when opened. */
  opened: HostEvidence;
  /** The full handshake its verification stands on (its own, or the one it resumed). */
  handshake: VerifiedHandshake;
  /** The last TLS session of this connection kept for resumption (not kept twice). */
  keptTlsSession?: Buffer;
  /** The recipient domain the session was opened for. */
  openedFor: string;
  openedAt: number;
  /** Messages sent on it so far. */
  messages: number;
}

export interface SessionPoolSettings {
  /** An idle session is closed (QUIT) after this long. */
  idleMs: number;
  /** A session is not reused after this age (certificates, DNS and policies move on). */
  maxAgeMs: number;
  /** Nor after this many messages. */
  maxMessages: number;
  now: () => number;
}

interface Idle {
  pooled: PooledSession;
  timer: NodeJS.Timeout;
  /** When it was given back. */
  since: number;
}

export function sessionKey(
  host: string,
  address: string,
  method: AuthMethod,
  level: PolicyLevel,
): string {
  return `${host.toLowerCase()}\0${address}\0${method}\0${level}`;
}

/**
 * TLS sessions kept for resuming new connections: the newest one per pool key (MX host,
 * address, method, level), offered to every new connection until a newer one replaces it,
 * as Postfix's TLS session cache does. (RFC 8446 C.4 advises clients against reusing a
 * ticket, so that connections cannot be linked; an MTA's connections are linked by its
 * address and EHLO name anyway, and PSK with (EC)DHE keeps each connection's keys its own.)
 * Measured (bench, end to end, 8,000 messages): with each session used once, 12 of 100 new
 * connections resumed, as they open in bursts before the first handshakes are done.
 */
const TLS_SESSION_KEYS_MAX = 10_000;

export class SessionPool {
  readonly #settings: SessionPoolSettings;
  readonly #idle = new Map<string, Idle[]>();
  readonly #tlsSessions = new Map<string, ResumableSession>();
  #opened = 0;
  #reused = 0;
  #resumed = 0;

  constructor(settings: SessionPoolSettings) {
    this.#settings = settings;
  }

  get stats(): { opened: number; reused: number; idle: number; resumed: number } {
    let idle = 0;
    for (const list of this.#idle.values()) idle += list.length;
    return { opened: this.#opened, reused: this.#reused, idle, resumed: this.#resumed };
  }

  /** Counts a session opened by the caller (for stats), and keeps its TLS session. */
  opened(pooled: PooledSession): void {
    this.#opened++;
    if (pooled.session.tlsSocket?.isSessionReused()) this.#resumed++;
    this.keepTlsSession(pooled);
  }

  /**
   * Keeps the connection's latest TLS session (a TLS 1.3 ticket arrives after the
   * handshake), with the full handshake it stands on, for a later connection to resume.
   */
  keepTlsSession(pooled: PooledSession): void {
    const session = pooled.session.tlsSession;
    if (session === undefined || session === pooled.keptTlsSession) return;
    pooled.keptTlsSession = session;
    // Map order is insertion order: the key goes to the back, the oldest key out first.
    this.#tlsSessions.delete(pooled.key);
    if (this.#tlsSessions.size >= TLS_SESSION_KEYS_MAX) {
      const oldest = this.#tlsSessions.keys().next().value;
      if (oldest !== undefined) this.#tlsSessions.delete(oldest);
    }
    this.#tlsSessions.set(pooled.key, { handshake: pooled.handshake, session });
  }

  /** The newest TLS session kept under `key`, if any. */
  tlsSession(key: string): ResumableSession | undefined {
    return this.#tlsSessions.get(key);
  }

  /**
   * An idle session under `key` that `fits` accepts, taken out of the pool (one user at a
   * time: SMTP is one dialogue). Sessions that are closed or too old are quit on the way.
   */
  take(key: string, fits: (pooled: PooledSession) => boolean): PooledSession | undefined {
    const list = this.#idle.get(key);
    if (list === undefined) return undefined;
    const now = this.#settings.now();
    for (let i = list.length - 1; i >= 0; i--) {
      const { pooled, timer } = list[i]!;
      const socket = pooled.session.tlsSocket;
      const stale = socket === undefined || socket.destroyed || !this.#usable(pooled, now);
      if (!stale && !fits(pooled)) continue;
      list.splice(i, 1);
      clearTimeout(timer);
      if (stale) {
        void pooled.session.quit();
        continue;
      }
      if (list.length === 0) this.#idle.delete(pooled.key);
      this.#reused++;
      return pooled;
    }
    if (list.length === 0) this.#idle.delete(key);
    return undefined;
  }

  /** Gives a session back after use; it stays open for `idleMs` unless taken again. */
  give(pooled: PooledSession): void {
    this.keepTlsSession(pooled);
    if (!this.#usable(pooled, this.#settings.now())) {
      void pooled.session.quit();
      return;
    }
    const list = this.#idle.get(pooled.key) ?? [];
    const entry: Idle = {
      pooled,
      since: this.#settings.now(),
      timer: setTimeout(() => {
        const at = list.indexOf(entry);
        if (at >= 0) list.splice(at, 1);
        if (list.length === 0 && this.#idle.get(pooled.key) === list) this.#idle.delete(pooled.key);
        void pooled.session.quit();
      }, this.#settings.idleMs),
    };
    // An idle session never keeps the process alive.
    entry.timer.unref();
    list.push(entry);
    this.#idle.set(pooled.key, list);
  }

  /** Closes the longest idle sessions until at most `max` are idle (QUIT on each). */
  trim(max: number): void {
    const all = [...this.#idle.values()].flat();
    if (all.length <= max) return;
    all.sort((a, b) => a.since - b.since);
    for (const entry of all.slice(0, all.length - max)) {
      const list = this.#idle.get(entry.pooled.key);
      if (list === undefined) continue;
      const at = list.indexOf(entry);
      if (at >= 0) list.splice(at, 1);
      if (list.length === 0) this.#idle.delete(entry.pooled.key);
      clearTimeout(entry.timer);
      void entry.pooled.session.quit();
    }
  }

  /** QUIT on every idle session. */
  async close(): Promise<void> {
    const all = [...this.#idle.values()].flat();
    this.#idle.clear();
    for (const { timer } of all) clearTimeout(timer);
    await Promise.all(all.map(({ pooled }) => pooled.session.quit()));
  }

  /**
   * Whether the session may still carry messages (`more` beyond those sent so far): younger
   * than maxAgeMs and under maxMessages.
   */
  fresh(pooled: PooledSession, more = 0): boolean {
    return (
      this.#settings.now() - pooled.openedAt < this.#settings.maxAgeMs &&
      pooled.messages + more < this.#settings.maxMessages
    );
  }

  #usable(pooled: PooledSession, now: number): boolean {
    return (
      now - pooled.openedAt < this.#settings.maxAgeMs &&
      pooled.messages < this.#settings.maxMessages
    );
  }
}
