// Telling the sender. Recipients of a message that end undelivered are reported to the
// account's notification address in one notice per message per digest window (the rule is
// in src/outbox/recipient-notices.ts; the words in undelivered-notice.ts), and the account
// notices of domain onboarding are mailed as they are recorded. A notification is itself a
// queued message, delivered by the worker through the same secure path, with the null
// return path so it can never start a bounce loop.

import { randomUUIDv7 } from 'node:crypto';
import MailComposer from 'nodemailer/lib/mail-composer';
import type { Logger } from 'pino';
import { summariseEvidence } from '../evidence/summary.ts';
import {
  type DueNotice,
  dueNotices,
  type TakenNotice,
  takeNotice,
} from '../outbox/recipient-notices.ts';
import { acceptNotification } from '../recipients/accept.ts';
import { seal } from '../secrets/sealed-box.ts';
import { openNotice, openSubject, sealSubject } from '../secrets/sealed-content.ts';
import {
  listUnsentNotifications,
  markNotificationSent,
} from '../store/account-notifications.repository.ts';
import type { Db, Store } from '../store/database.ts';
import { findAccountById } from '../store/domain-checks.repository.ts';
import { listAttempts, listRecipients } from '../store/messages.repository.ts';
import type { MessagesTable, RecipientsTable } from '../store/messages.table.ts';
import { findMessageById } from '../store/recipients.repository.ts';
import type { Account } from '../store/schema.ts';
import { StorageOutage } from '../store/unavailable.ts';
import { OPEN_STATUSES, type RecipientStatus } from '../vocabulary/recipient-statuses.ts';
import {
  composeNotice,
  type NoticeFacts,
  type ReportedGroup,
  type TryingGroup,
} from './undelivered-notice.ts';

export interface NotifyDeps {
  store: Store;
  masterKey: Buffer;
  /** Platform host name, used in Message-IDs. */
  hostname: string;
  now: () => number;
}

/** What the notices about undelivered recipients need besides NotifyDeps. */
export interface DigestDeps extends NotifyDeps {
  /** The digest window (SECUREMAIL_NOTIFY_DIGEST_SECONDS), in ms. */
  digestMs: number;
  /** How long temporary failures are retried (for "still trying until ..."), in ms. */
  retryWindowMs: number;
  logger?: Logger | undefined;
}

/** Due notices read per query; a pass reads again while pages come back full. */
const DUE_PAGE = 100;
const MAX_PAGES_PER_PASS = 20;

/**
 * Sends every notice that is due now (or only those of `messageIds`), each claimed so that
 * no other worker sends it too. Returns how many were queued.
 */
export async function sendDueNotices(
  deps: DigestDeps,
  messageIds?: readonly string[],
): Promise<number> {
  const { db } = deps.store;
  let queued = 0;
  for (let page = 0; page < MAX_PAGES_PER_PASS; page++) {
    const due = await dueNotices(db, {
      now: deps.now(),
      windowMs: deps.digestMs,
      limit: DUE_PAGE,
      ...(messageIds === undefined ? {} : { messageIds }),
    });
    for (const notice of due) {
      try {
        if (await sendNotice(deps, notice)) queued++;
      } catch (error) {
        // One broken message must not hold back the others; it stays due and is tried again.
        deps.logger?.error(
          { err: error, messageId: notice.messageId },
          'notice could not be queued',
        );
      }
    }
    if (due.length < DUE_PAGE) break;
  }
  return queued;
}

function sendNotice(deps: DigestDeps, due: DueNotice): Promise<boolean> {
  const now = deps.now();
  return takeNotice(deps.store.db, due, now, async (trx, taken) => {
    const message = await findMessageById(trx, due.messageId);
    if (message === undefined) return;
    const account = await findAccountById(trx, message.account_id);
    // Without the account there is nobody left to tell.
    if (account === undefined) return;
    const facts = await gatherFacts(deps, trx, message, taken);
    const notice = composeNotice(facts);
    const headerId = `notification.${message.id}.${taken.sequence}@${deps.hostname}`;
    const raw = await new MailComposer({
      from: fromAddress(account),
      to: account.notification_email,
      subject: notice.subject,
      messageId: `<${headerId}>`,
      date: new Date(now),
      text: notice.text,
      html: notice.html,
      headers: { 'Auto-Submitted': 'auto-generated' },
    })
      .compile()
      .build();
    await queueNotification(deps, trx, { account, headerId, subject: notice.subject, raw, now });
  });
}

/** The message's recipients now, the ones this notice reports, and evidence of each group. */
async function gatherFacts(
  deps: DigestDeps,
  db: Db,
  message: MessagesTable,
  taken: TakenNotice,
): Promise<NoticeFacts> {
  const recipients = await listRecipients(db, message.id);
  const reportedIds = new Set(taken.recipientIds);
  const counts: Partial<Record<RecipientStatus, number>> = {};
  for (const r of recipients) counts[r.status] = (counts[r.status] ?? 0) + 1;

  const reported = new Map<string, { group: ReportedGroup; sample: RecipientsTable }>();
  for (const r of recipients) {
    if (!reportedIds.has(r.id)) continue;
    const key = `${r.domain}\0${r.status}\0${r.reason ?? ''}`;
    const entry = reported.get(key);
    if (entry !== undefined) entry.group.addresses.push(r.address);
    else {
      reported.set(key, {
        group: {
          domain: r.domain,
          status: r.status,
          reason: r.reason,
          detail: r.detail,
          addresses: [r.address],
          evidence: undefined,
        },
        sample: r,
      });
    }
  }
  for (const { group, sample } of reported.values()) {
    const last = (await listAttempts(db, [sample.id])).at(-1);
    if (last === undefined) continue;
    const summary = summariseEvidence(last.evidence_json);
    group.evidence = {
      at: last.ended_at,
      hostsTried: summary.hosts_tried,
      dnssecMx: summary.dnssec_mx,
      mtaSts: summary.mta_sts,
      tlsVersion: summary.tls_version,
      reply: last.reply,
    };
  }

  const trying = new Map<string, TryingGroup & { updatedAt: number }>();
  for (const r of recipients) {
    if (!(OPEN_STATUSES as readonly RecipientStatus[]).includes(r.status)) continue;
    const group = trying.get(r.domain);
    if (group === undefined) {
      trying.set(r.domain, {
        domain: r.domain,
        reason: r.reason,
        detail: r.detail,
        addresses: [r.address],
        until: message.created_at + deps.retryWindowMs,
        updatedAt: r.updated_at,
      });
      continue;
    }
    group.addresses.push(r.address);
    // The most recent problem of the domain speaks for it.
    if (r.reason !== null && r.updated_at > group.updatedAt) {
      group.reason = r.reason;
      group.detail = r.detail;
      group.updatedAt = r.updated_at;
    }
  }

  return {
    messageId: message.id,
    messageIdHeader: message.message_id_header,
    sender: message.sender,
    subject: openSubject(deps.masterKey, message.id, message.subject_sealed),
    createdAt: message.created_at,
    recipientCount: message.recipient_count,
    counts,
    reported: [...reported.values()].map((e) => e.group),
    trying: [...trying.values()].map(({ updatedAt: _, ...group }) => group),
    retryWindowHours: Math.round(deps.retryWindowMs / 3_600_000),
    followUp: taken.sequence > 1,
  };
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
        await queueNotification(deps, db, {
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
  db: Db,
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
  return acceptNotification(db, row, to);
}

/**
 * Sends due notices on a timer, a tenth of the digest window apart (between 1 and 10 s), so a
 * notice goes out at most that much after its window closes. The worker also sends a
 * completed message's notice at once (sendDueNotices with its id).
 */
export function startNoticeDigest(deps: DigestDeps): { stop(): Promise<void> } {
  const pollMs = Math.min(10_000, Math.max(1_000, deps.digestMs / 10));
  let running: Promise<unknown> | undefined;
  // An outage is said once (and its end), not on every pass.
  const outage =
    deps.logger === undefined ? undefined : new StorageOutage(deps.logger, 'notice pass');
  const timer = setInterval(() => {
    if (running !== undefined) return;
    running = sendDueNotices(deps)
      .then(() => outage?.succeeded())
      .catch((error: unknown) => outage?.failed(error))
      .finally(() => {
        running = undefined;
      });
  }, pollMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
