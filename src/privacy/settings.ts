// Retention of the data no other module expires (docs/privacy.md has the whole table): webhook
// events (they name the recipient) and account notices, deleted a while after they were
// delivered or sent. Bodies, subjects and evidence are src/recipients/settings.ts's, kept
// bounces src/inbound/settings.ts's.

import { integer, map } from '../settings.ts';

const DAY_MS = 24 * 3_600_000;

export const PRIVACY_SETTINGS = {
  webhookEventRetentionMs: map(
    integer('SECUREMAIL_WEBHOOK_EVENT_RETENTION_DAYS', {
      // Long enough to look into a failing endpoint (GET /account/webhook/deliveries).
      default: 7,
      min: 1,
      max: 3650,
      doc: 'Days a webhook event is kept after it was delivered, failed or dropped',
    }),
    (days) => DAY_MS * days,
  ),
  noticeRetentionMs: map(
    integer('SECUREMAIL_NOTICE_RETENTION_DAYS', {
      // Once sent, a notice lives on as a notification message (with its own retention).
      default: 7,
      min: 1,
      max: 3650,
      doc: 'Days an account notice is kept after it was sent',
    }),
    (days) => DAY_MS * days,
  ),
};

export interface PrivacySettings {
  /** Finished webhook events are deleted this long after they finished. */
  webhookEventRetentionMs: number;
  /** Sent account notices are deleted this long after they were sent. */
  noticeRetentionMs: number;
}
