// Retention of webhook events and account notices, which were kept for ever before: a
// webhook event names the recipient and what happened to it, a notice names the account's
// endpoints and errors. Both go a while after they were delivered or sent
// (src/privacy/settings.ts); pending ones stay until they are. Run hourly by the worker with
// the other retention (src/service.ts).

import type { Db } from '../store/database.ts';
import {
  deleteNoticesSentBefore,
  deleteWebhookEventsFinishedBefore,
} from '../store/privacy-retention.repository.ts';
import type { PrivacySettings } from './settings.ts';

const BATCH = 1000;

export interface PrivacyRetentionRun {
  webhookEventsDeleted: number;
  noticesDeleted: number;
}

async function drain(deleteBatch: (batch: number) => Promise<number>): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await deleteBatch(BATCH);
    total += n;
    if (n < BATCH) return total;
  }
}

export async function applyPrivacyRetention(
  db: Db,
  settings: PrivacySettings,
  now: number,
): Promise<PrivacyRetentionRun> {
  return {
    webhookEventsDeleted: await drain((batch) =>
      deleteWebhookEventsFinishedBefore(db, now - settings.webhookEventRetentionMs, batch),
    ),
    noticesDeleted: await drain((batch) =>
      deleteNoticesSentBefore(db, now - settings.noticeRetentionMs, batch),
    ),
  };
}
