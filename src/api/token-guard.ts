// Limits failed token requests per client id and per source address, in memory of this API
// process. Checked before the secret is: a refused attempt costs no scrypt work, so
// guessing (and burning CPU with wrong secrets) is slow. Secrets are 256 random bits, so
// the limits are not what makes them unguessable; they keep one caller from occupying the
// secret checks that every client needs.
//
// - A failure is a wrong secret or an unknown client id. Successes do not count. An attempt
//   counts as a failure from the moment it is admitted until it succeeds, so 64 parallel
//   attempts cannot all slip in before the first one fails.
// - Limiting by client id lets anyone who knows a client id keep that client from new
//   tokens. So an address that got a token for a client within TRUST_MS, and has not failed
//   for it since, is not refused by either limit and goes first in the hash queue. One
//   attempt per such pair is trusted at a time; a failure ends the trust.
// - IPv6 callers are counted per /64, the block one host usually has to itself.

import { isIPv6 } from 'node:net';
import { FailureWindow } from './failure-window.ts';

export interface TokenLimits {
  /** Failures allowed per client id within the window. */
  perClient: number;
  /** Failures allowed per source address (IPv6: per /64) within the window. */
  perAddress: number;
  windowMs: number;
}

/** How long a successful (client id, address) pair stays trusted. */
export const TRUST_MS = 7 * 86_400_000;
const MAX_TRUSTED = 10_000;

export interface Ticket {
  readonly clientId: string;
  readonly address: string;
  readonly at: number;
  /** When the address last proved this client's secret (not limited, checked first). */
  readonly trustedAt: number | undefined;
}

export type Admission =
  | { ok: true; ticket: Ticket }
  | { ok: false; limit: 'client' | 'address'; retryAfterSeconds: number };

/** How an admitted attempt ended: `untried` when the secret was never checked. */
export type AttemptOutcome = 'success' | 'failure' | 'untried';

export class TokenGuard {
  readonly #clients: FailureWindow;
  readonly #addresses: FailureWindow;
  readonly #trusted = new Map<string, number>();
  readonly #now: () => number;

  constructor(limits: TokenLimits, now: () => number) {
    this.#clients = new FailureWindow(limits.perClient, limits.windowMs);
    this.#addresses = new FailureWindow(limits.perAddress, limits.windowMs);
    this.#now = now;
  }

  /** Admits an attempt (and counts it as a failure until settled) or says how long to wait. */
  admit(clientId: string, ip: string): Admission {
    const now = this.#now();
    const address = addressKey(ip);
    const pair = `${clientId}\n${address}`;
    const trustedAt = this.#trusted.get(pair);
    const trusted = trustedAt !== undefined && now - trustedAt < TRUST_MS;
    if (trustedAt !== undefined) this.#trusted.delete(pair);
    if (!trusted) {
      const client = this.#clients.waitMs(clientId, now);
      const source = this.#addresses.waitMs(address, now);
      if (client > 0 || source > 0) {
        return {
          ok: false,
          limit: client >= source ? 'client' : 'address',
          retryAfterSeconds: Math.max(1, Math.ceil(Math.max(client, source) / 1000)),
        };
      }
    }
    this.#clients.add(clientId, now);
    this.#addresses.add(address, now);
    return {
      ok: true,
      ticket: { clientId, address, at: now, trustedAt: trusted ? trustedAt : undefined },
    };
  }

  settle(ticket: Ticket, outcome: AttemptOutcome): void {
    if (outcome === 'failure') return;
    this.#clients.remove(ticket.clientId, ticket.at);
    this.#addresses.remove(ticket.address, ticket.at);
    const pair = `${ticket.clientId}\n${ticket.address}`;
    if (outcome === 'success') {
      this.#trusted.delete(pair);
      this.#trusted.set(pair, this.#now());
      if (this.#trusted.size > MAX_TRUSTED)
        this.#trusted.delete(this.#trusted.keys().next().value!);
    } else if (ticket.trustedAt !== undefined) {
      // Never checked (the queue was full): the trust taken at admission goes back.
      this.#trusted.set(pair, ticket.trustedAt);
    }
  }
}

/** The key an address is counted under: IPv4 as is, IPv6 by its /64. */
export function addressKey(ip: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped !== null) return mapped[1]!;
  const bare = ip.replace(/%.*$/, '');
  if (!isIPv6(bare)) return ip;
  const groups = (part: string | undefined): string[] =>
    part === undefined || part === ''
      ? []
      : part.split(':').flatMap((g) => {
          if (!g.includes('.')) return [g];
          const [a, b, c, d] = g.split('.').map(Number) as [number, number, number, number];
          return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
        });
  const [head, tail] = bare.split('::');
  const front = groups(head);
  const back = groups(tail);
  const all =
    tail === undefined
      ? front
      : [...front, ...Array<string>(8 - front.length - back.length).fill('0'), ...back];
  return `${all
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}
