// Notices to an account's notification address (its domain became unverified or failed, its
// webhook was disabled): recorded in the transaction of the change that caused them, then
// mailed by the worker (queueAccountNotices in src/notify/notifications.ts). Their subject and body
// name the account's domain, its endpoints and the errors those returned, so they are
// sealed with the master key like message bodies. Every writer goes through here.

import { randomUUID } from 'node:crypto';
import { sealNotice } from '../secrets/sealed-content.ts';
import { insertNotification } from '../store/account-notifications.repository.ts';
import type { Db } from '../store/database.ts';

export interface AccountNotice {
  accountId: string;
  /** e.g. `domain_unverified`, `webhook_disabled`. */
  kind: string;
  /** The account's notification address at the time. */
  recipient: string;
  subject: string;
  body: string;
  at: number;
}

export async function recordAccountNotice(
  db: Db,
  masterKey: Buffer,
  notice: AccountNotice,
): Promise<void> {
  const id = randomUUID();
  await insertNotification(db, {
    id,
    account_id: notice.accountId,
    kind: notice.kind,
    recipient: notice.recipient,
    ...sealNotice(masterKey, id, { subject: notice.subject, body: notice.body }),
    created_at: notice.at,
    sent_at: null,
  });
}
