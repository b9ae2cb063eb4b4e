// The delivery worker's settings: how long a deferred recipient is retried, how many
// connections a worker keeps busy (over all destinations, per destination, per MX host),
// how many messages ride on one connection at once, how many recipients it claims at a time,
// how long a claim holds, and when a silent worker's claims are taken back. With the retention
// periods (src/recipients/settings.ts) they make the Config's `delivery`. docs/sending.md explains the concurrency settings.

import { integer, map } from '../settings.ts';

const HOUR_MS = 3_600_000;

export const DELIVERY_SETTINGS = {
  retryWindowMs: map(
    integer('SECUREMAIL_RETRY_WINDOW_HOURS', {
      default: 48,
      min: 1,
      max: 24 * 30,
      doc: 'How long temporary failures are retried before `expired`.',
    }),
    (hours) => HOUR_MS * hours,
  ),
  // Postfix: minimal_backoff_time (300 s). One minute by default, as before it was a setting;
  // an operator with a private relay may want less, one on a metered link more.
  retryMinMs: map(
    integer('SECUREMAIL_RETRY_MIN_SECONDS', {
      default: 60,
      min: 1,
      max: 3600,
      doc: 'Delay before the first retry of a temporary failure',
    }),
    (seconds) => 1000 * seconds,
  ),
  // Sized for internet latency: at a 50 ms round trip a connection carries at most one
  // flight of messages per 50 ms, so a process needs about a hundred busy connections to
  // keep two cores at work (issue 11: 20 connections gave 165 msg/s). Sockets in one event
  // loop are cheap; Postfix's default is 100 delivery processes.
  concurrency: integer('SECUREMAIL_WORKER_CONCURRENCY', {
    default: 200,
    min: 1,
    max: 5000,
    doc: 'Connections a worker process keeps open at once, over all destinations.',
  }),
  destinationConcurrency: integer('SECUREMAIL_DESTINATION_CONCURRENCY', {
    default: 20,
    min: 1,
    max: 1000,
    doc: 'Most connections at once to one recipient domain (Postfix: default_destination_concurrency_limit).',
  }),
  initialConcurrency: integer('SECUREMAIL_DESTINATION_INITIAL_CONCURRENCY', {
    default: 5,
    min: 1,
    max: (earlier) => earlier.destinationConcurrency as number,
    doc: 'Connections a recipient domain starts with; more while deliveries succeed, fewer on 421, 4xx greetings, failed connections and timeouts.',
  }),
  hostConcurrency: integer('SECUREMAIL_MX_HOST_CONCURRENCY', {
    default: 0,
    min: 0,
    max: 5000,
    doc: 'Most connections at once to one MX host, over all recipient domains (0: no limit).',
  }),
  pipelineDepth: integer('SECUREMAIL_PIPELINE_DEPTH', {
    default: 4,
    min: 1,
    max: 32,
    doc: 'Messages in flight on one connection when the server offers CHUNKING and PIPELINING (2 with PIPELINING alone).',
  }),
  batchSize: integer('SECUREMAIL_WORKER_BATCH', {
    default: 500,
    min: 1,
    max: 10_000,
    doc: 'Recipients claimed at a time; a worker holds at most twice as many.',
  }),
  leaseMs: map(
    integer('SECUREMAIL_LEASE_SECONDS', {
      default: 600,
      min: 10,
      max: 86_400,
      doc: 'How long a claim holds before another worker may take the recipient.',
    }),
    (seconds) => 1000 * seconds,
  ),
  // Each worker beats every 2 s (liveness.ts); five missed beats is no hiccup of the database
  // or the event loop, and a dead worker's claims come back within about 12 s, not 600.
  staleMs: map(
    integer('SECUREMAIL_WORKER_STALE_SECONDS', {
      default: 10,
      min: 4,
      max: 3_600,
      doc: "How long a worker's heartbeat may stand still before its claims are taken back.",
    }),
    (seconds) => 1000 * seconds,
  ),
};

export interface DeliverySettings {
  /** Deferred recipients are retried this long after acceptance, then end `expired`. */
  retryWindowMs: number;
  /** The first retry's delay; each later one doubles, up to an hour. Also a failing destination's suspension. */
  retryMinMs: number;
  /** SMTP connections a worker process keeps open at once, over all destinations. */
  concurrency: number;
  /** Most connections at once to one destination (recipient domain). */
  destinationConcurrency: number;
  /** Connections a destination starts with (its concurrency window grows and shrinks). */
  initialConcurrency: number;
  /** Most connections at once to one MX host; 0: no limit. */
  hostConcurrency: number;
  /** Messages in flight on one connection (with CHUNKING and PIPELINING). */
  pipelineDepth: number;
  /** Recipients claimed at a time; at most twice as many are held. */
  batchSize: number;
  /** A claim lasts this long; a crashed worker's recipients are claimable again after it. */
  leaseMs: number;
  /** A worker whose heartbeat counter stood still this long is dead: its claims are taken back. */
  staleMs: number;
}
