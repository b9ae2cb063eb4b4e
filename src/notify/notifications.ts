// Telling the sender: when a message's last recipient becomes final and any of them was not
// delivered, the account's notification address gets ONE e-mail listing those recipients,
// why, and what their administrator could fix. The notification is itself a queued message,
// delivered by the worker through the same secure path, with the null return path so it can
// never start a bounce loop.

import { randomUUIDv7 } from 'node:crypto';
import MailComposer from 'nodemailer/lib/mail-composer';
import { acceptNotification } from '../recipients/accept.ts';
import { seal } from '../secrets/sealed-box.ts';
import { openNotice, openSubject, sealSubject } from '../secrets/sealed-content.ts';
import {
  listUnsentNotifications,
  markNotificationSent,
} from '../store/account-notifications.repository.ts';
import type { Store } from '../store/database.ts';
import { findAccountById } from '../store/domain-checks.repository.ts';
import type { MessagesTable, RecipientsTable } from '../store/messages.table.ts';
import { findMessageById, listRecipientsIn } from '../store/recipients.repository.ts';
import type { Account } from '../store/schema.ts';
import { reasonInfo } from '../vocabulary/reasons.ts';
import { UNDELIVERED_STATUSES } from '../vocabulary/recipient-statuses.ts';

export interface NotifyDeps {
  store: Store;
  masterKey: Buffer;
  /** Platform host name, used in Message-IDs. */
  hostname: string;
  now: () => number;
}

const STATUS_TEXT: Record<string, string> = {
  refused_insecure: 'not sent: the receiving mail server is not secure enough',
  bounced: 'rejected by the receiving mail server',
  failed: 'could not be sent',
  expired: 'not delivered in time: the receiving mail server could not be reached securely',
};

/**
 * Queues the notification for a completed message, if it needs one. Safe to call twice.
 * With `recipientId`, only that recipient is reported: a bounce that arrived after the
 * message was complete (and maybe already reported) gets a notice of its own.
 */
export async function notifyIfUndelivered(
  deps: NotifyDeps,
  messageId: string,
  recipientId?: string,
): Promise<boolean> {
  const { db } = deps.store;
  const message = await findMessageById(db, messageId);
  if (message === undefined || message.kind !== 'message') return false;
  const affected = await listRecipientsIn(db, messageId, UNDELIVERED_STATUSES, recipientId);
  if (affected.length === 0) return false;
  const account = await findAccountById(db, message.account_id);
  if (account === undefined) return false;

  const now = deps.now();
  const headerId = `notification.${message.id}${recipientId === undefined ? '' : `.${recipientId}`}@${deps.hostname}`;
  const original = openSubject(deps.masterKey, message.id, message.subject_sealed);
  const subject = `Not delivered: ${original ?? message.message_id_header}`;
  const raw = await compose(message, original, affected, {
    from: fromAddress(account),
    to: account.notification_email,
    subject,
    messageId: headerId,
    date: new Date(now),
  });
  return queueNotification(deps, { account, headerId, subject, raw, now });
}

/**
 * Sends the account notices that domain onboarding records (a domain that became
 * unverified or failed) as notification messages. Returns how many were queued.
 */
export async function queueAccountNotices(deps: NotifyDeps, limit = 100): Promise<number> {
  const { db } = deps.store;
  const rows = await listUnsentNotifications(db, limit);
  let queued = 0;
  for (const row of rows) {
    const account = await findAccountById(db, row.account_id);
    const now = deps.now();
    if (account !== undefined) {
      const headerId = `notice.${row.id}@${deps.hostname}`;
      const notice = openNotice(deps.masterKey, row);
      const raw = await new MailComposer({
        from: fromAddress(account),
        to: row.recipient,
        subject: notice.subject,
        messageId: `<${headerId}>`,
        date: new Date(now),
        text: notice.body,
        headers: { 'Auto-Submitted': 'auto-generated' },
      })
        .compile()
        .build();
      if (
        await queueNotification(deps, {
          account,
          headerId,
          subject: notice.subject,
          raw,
          now,
          to: row.recipient,
        })
      )
        queued++;
    }
    // Marked even when the account is gone: there is nobody left to tell.
    await markNotificationSent(db, row.id, now);
  }
  return queued;
}

function fromAddress(account: Account): string {
  return `SecureMail <postmaster@${account.bounce_subdomain}.${account.domain}>`;
}

/** A notification is a queued message like any other, delivered through the same secure path. */
async function queueNotification(
  deps: NotifyDeps,
  n: { account: Account; headerId: string; subject: string; raw: Buffer; now: number; to?: string },
): Promise<boolean> {
  const { account, headerId, raw, now } = n;
  const to = n.to ?? account.notification_email;
  const id = randomUUIDv7();
  const response = {
    id,
    message_id: headerId,
    sender: '',
    recipients: [{ address: to, status: 'queued' }],
  };
  const row: MessagesTable = {
    id,
    client_id: account.client_id,
    account_id: account.id,
    kind: 'notification',
    sender: '',
    message_id_header: headerId,
    subject_sealed: sealSubject(deps.masterKey, id, n.subject),
    content_hash: '',
    size: raw.length,
    body_sealed: seal(deps.masterKey, 'message-body', id, raw).toString('base64'),
    require_tls: 0,
    recipient_count: 1,
    response_json: JSON.stringify(response),
    created_at: now,
    completed_at: null,
  };
  // The unique (account, Message-ID) makes a second call a no-op.
  return acceptNotification(deps.store.db, row, to);
}

async function compose(
  message: MessagesTable,
  subject: string | null,
  affected: RecipientsTable[],
  envelope: { from: string; to: string; subject: string; messageId: string; date: Date },
): Promise<Buffer> {
  const lines = [
    `Your message "${subject ?? '(no subject)'}" <${message.message_id_header}>, sent from ${message.sender}`,
    `on ${new Date(message.created_at).toUTCString()}, was not delivered to ${affected.length} of its ${message.recipient_count} recipient(s).`,
    'SecureMail only delivers over an encrypted connection to an authenticated mail server; nothing was sent',
    'in clear to any of the recipients below.',
    '',
  ];
  for (const r of affected) {
    const info = reasonInfo(r.reason);
    lines.push(`* ${r.address}: ${STATUS_TEXT[r.status] ?? r.status}`);
    if (info !== undefined) {
      lines.push(`  Why: ${info.explanation}`);
      lines.push(`  What the recipient's mail administrator can do: ${info.fix}`);
    }
    if (r.detail !== null) lines.push(`  Details: ${r.detail}`);
    lines.push(`  Reason code: ${r.reason ?? 'none'}`);
    lines.push('');
  }
  lines.push(`Per-recipient evidence: GET /message/${message.id}`);
  const composer = new MailComposer({
    from: envelope.from,
    to: envelope.to,
    subject: envelope.subject,
    messageId: `<${envelope.messageId}>`,
    date: envelope.date,
    text: lines.join('\n'),
    headers: { 'Auto-Submitted': 'auto-generated' },
  });
  return composer.compile().build();
}
