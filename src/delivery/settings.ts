// The delivery worker's settings: how long a deferred recipient is retried, how many
// sessions and recipients a worker handles at once, and how long a claim holds. With the
// retention periods (src/recipients/settings.ts) they make the Config's `delivery`.

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
  concurrency: integer('SECUREMAIL_WORKER_CONCURRENCY', {
    default: 20,
    min: 1,
    max: 1000,
    doc: 'Connections a worker process keeps open at once.',
  }),
  batchSize: integer('SECUREMAIL_WORKER_BATCH', {
    default: 500,
    min: 1,
    max: 10_000,
    doc: 'Recipients claimed per round.',
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
};

export interface DeliverySettings {
  /** Deferred recipients are retried this long after acceptance, then end `expired`. */
  retryWindowMs: number;
  /** SMTP sessions a worker process keeps open at once. */
  concurrency: number;
  /** Recipients claimed per round. */
  batchSize: number;
  /** A claim lasts this long; a crashed worker's recipients are claimable again after it. */
  leaseMs: number;
}
