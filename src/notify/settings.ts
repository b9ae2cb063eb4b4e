// Settings of telling the sender: the digest window of the notices about undelivered
// recipients, and webhook delivery (how long an event is retried, when a failing endpoint is
// disabled, how long a rotated secret still signs, and the dispatcher's pace).

import { type Env, flag, integer, map, readSettings } from '../settings.ts';

export const NOTICE_SETTINGS = {
  digestMs: map(
    integer('SECUREMAIL_NOTIFY_DIGEST_SECONDS', {
      default: 300,
      min: 0,
      max: 86_400,
      doc: "The digest window of a message's notices",
    }),
    (seconds) => 1000 * seconds,
  ),
};

export interface NoticeSettings {
  /**
   * Recipients that ended undelivered are reported this long after the first of them ended
   * (at once when the message is complete), in one notice per message; notices of one
   * message are at least this far apart. See src/outbox/recipient-notices.ts.
   */
  digestMs: number;
}

export const WEBHOOK_SETTINGS = {
  allowPrivate: flag('SECUREMAIL_WEBHOOK_ALLOW_PRIVATE', {
    doc: 'Allow webhook targets on loopback/private/link-local addresses.',
  }),
  retryHours: integer('SECUREMAIL_WEBHOOK_RETRY_HOURS', {
    default: 24,
    min: 1,
    max: 24 * 14,
    doc: 'How long one event is retried.',
  }),
  disableAfterHours: integer('SECUREMAIL_WEBHOOK_DISABLE_AFTER_HOURS', {
    default: 24,
    min: 1,
    max: 24 * 30,
    doc: 'An endpoint failing without a success for this long is disabled.',
  }),
  secretOverlapHours: integer('SECUREMAIL_WEBHOOK_SECRET_OVERLAP_HOURS', {
    default: 24,
    min: 0,
    max: 24 * 30,
    doc: 'After a rotation, the previous secret also signs for this long.',
  }),
  timeoutMs: integer('SECUREMAIL_WEBHOOK_TIMEOUT_MS', {
    default: 10_000,
    min: 100,
    max: 120_000,
    doc: 'Time allowed for one delivery.',
  }),
  pollMs: integer('SECUREMAIL_WEBHOOK_POLL_MS', {
    default: 1000,
    min: 10,
    max: 60_000,
    doc: 'How often the worker looks for due events.',
  }),
  concurrency: integer('SECUREMAIL_WEBHOOK_CONCURRENCY', {
    default: 8,
    min: 1,
    max: 256,
    doc: 'Deliveries in flight at once per worker process.',
  }),
};

export interface WebhookConfig {
  /** Allow targets on loopback/private/link-local addresses (tests, closed networks). */
  allowPrivate: boolean;
  /** An event is retried with backoff for this long, then given up. */
  retryHours: number;
  /** An endpoint failing without a single success for this long is disabled. */
  disableAfterHours: number;
  /** After a rotation, the previous secret also signs for this long. */
  secretOverlapHours: number;
  timeoutMs: number;
  pollMs: number;
  /** Deliveries in flight at once (per dispatcher). */
  concurrency: number;
}

export function loadWebhookConfig(env: Env): WebhookConfig {
  return readSettings(WEBHOOK_SETTINGS, env, { cwd: '.', hostname: 'localhost' });
}
