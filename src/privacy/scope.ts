// Everything one account holds about one address: the rows an access request returns and an
// erasure changes, found in one place so the two can never disagree about what "about the
// address" means. Sealed content (subjects, bodies, kept bounces, notices) is opened here
// with the master key and searched; nothing opened leaves this module except in an access
// answer.

import { addressDigest } from '../secrets/keyed-digest.ts';
import { open } from '../secrets/sealed-box.ts';
import { openKeptMessage, openNotice, openSubject } from '../secrets/sealed-content.ts';
import { listNotifications } from '../store/account-notifications.repository.ts';
import {
  inboundAbout,
  inboundByIds,
  keptInboundPage,
  messageIdsFromSender,
  messagesByIds,
  recipientsOfMessages,
  recipientsWithAddress,
  SEALED_PAGE,
  sealedContentPage,
  suppressionsUnder,
  webhookEventsAbout,
} from '../store/data-subject.repository.ts';
import type { Db } from '../store/database.ts';
import type { InboundMessage } from '../store/inbound.repository.ts';
import type { SuppressionsTable } from '../store/inbound.table.ts';
import type { MessagesTable, RecipientsTable } from '../store/messages.table.ts';
import type { AccountNotification } from '../store/schema.ts';
import type { WebhookEvent } from '../store/webhooks.repository.ts';
import { namesAddress } from './address.ts';

/** Why a message is in the scope; a message can be there for several reasons. */
export interface MessageRole {
  /** The address is one of its recipients. */
  recipient: boolean;
  /** The address is its sender. */
  sender: boolean;
  /** Its subject or (kept) body names the address. */
  named: boolean;
}

export interface SubjectScope {
  accountId: string;
  /** The recipients whose address it is. */
  recipients: RecipientsTable[];
  messages: Array<{ row: MessagesTable; role: MessageRole; recipients: RecipientsTable[] }>;
  webhookEvents: WebhookEvent[];
  inbound: InboundMessage[];
  notices: AccountNotification[];
  /** The clear entry and the digest entry, where they exist. */
  suppressions: { clear?: SuppressionsTable; digest?: SuppressionsTable; digestKey: string };
}

export interface ScopeDeps {
  db: Db;
  masterKey: Buffer;
}

/** Finds everything account `accountId` holds about `address` (canonical, lower-cased). */
export async function findScope(
  deps: ScopeDeps,
  accountId: string,
  address: string,
): Promise<SubjectScope> {
  const { db, masterKey } = deps;
  const recipients = await recipientsWithAddress(db, accountId, address);
  const roles = await messageRoles(deps, accountId, address, recipients);

  const ids = [...roles.keys()];
  const rows = await messagesByIds(db, ids);
  const byMessage = new Map<string, RecipientsTable[]>();
  for (const r of await recipientsOfMessages(db, ids)) {
    byMessage.set(r.message_id, [...(byMessage.get(r.message_id) ?? []), r]);
  }
  const recipientIds = recipients.map((r) => r.id);

  const inbound = new Map<string, InboundMessage>();
  for (const row of await inboundAbout(db, accountId, recipientIds, address))
    inbound.set(row.id, row);
  for (const row of await inboundByIds(db, await keptNaming(deps, accountId, address))) {
    inbound.set(row.id, row);
  }

  const notices = (await listNotifications(db, accountId)).filter((n) => {
    if (n.recipient.toLowerCase() === address) return true;
    const text = openNotice(masterKey, n);
    return namesAddress(`${text.subject}\n${text.body}`, address);
  });

  const digestKey = addressDigest(masterKey, accountId, address);
  const listed = await suppressionsUnder(db, accountId, [address, digestKey]);

  return {
    accountId,
    recipients,
    messages: rows.map((row) => ({
      row,
      role: roles.get(row.id)!,
      recipients: (byMessage.get(row.id) ?? []).sort((a, b) => a.address.localeCompare(b.address)),
    })),
    webhookEvents: await webhookEventsAbout(db, accountId, recipientIds, address),
    inbound: [...inbound.values()].sort((a, b) => a.received_at - b.received_at),
    notices,
    suppressions: {
      ...optional(
        'clear',
        listed.find((s) => s.address === address),
      ),
      ...optional(
        'digest',
        listed.find((s) => s.address === digestKey),
      ),
      digestKey,
    },
  };
}

/** Every message the address is in, and how: as a recipient, as the sender, or named in it. */
async function messageRoles(
  deps: ScopeDeps,
  accountId: string,
  address: string,
  recipients: readonly RecipientsTable[],
): Promise<Map<string, MessageRole>> {
  const roles = new Map<string, MessageRole>();
  const role = (id: string) => {
    let r = roles.get(id);
    if (r === undefined) {
      r = { recipient: false, sender: false, named: false };
      roles.set(id, r);
    }
    return r;
  };
  for (const r of recipients) role(r.message_id).recipient = true;
  for (const id of await messageIdsFromSender(deps.db, accountId, address)) role(id).sender = true;
  for (const id of await messagesNaming(deps, accountId, address)) role(id).named = true;
  return roles;
}

function optional<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>);
}

/** Ids of the account's messages whose sealed subject or body names the address. */
async function messagesNaming(deps: ScopeDeps, accountId: string, address: string) {
  const found: string[] = [];
  for (let after = ''; ; ) {
    const page = await sealedContentPage(deps.db, accountId, after);
    for (const m of page) {
      const subject = openSubject(deps.masterKey, m.id, m.subject_sealed);
      if (subject !== null && namesAddress(subject, address)) {
        found.push(m.id);
        continue;
      }
      if (m.body_sealed !== null) {
        const body = open(
          deps.masterKey,
          'message-body',
          m.id,
          Buffer.from(m.body_sealed, 'base64'),
        );
        if (namesAddress(body.toString('utf8'), address)) found.push(m.id);
      }
    }
    if (page.length < SEALED_PAGE) return found;
    after = page.at(-1)!.id;
  }
}

/** Ids of the account's received messages whose kept content names the address. */
async function keptNaming(deps: ScopeDeps, accountId: string, address: string) {
  const found: string[] = [];
  for (let after = ''; ; ) {
    const page = await keptInboundPage(deps.db, accountId, after);
    for (const row of page) {
      const kept = openKeptMessage(deps.masterKey, row);
      if (kept !== null && namesAddress(kept.toString('utf8'), address)) found.push(row.id);
    }
    if (page.length < SEALED_PAGE) return found;
    after = page.at(-1)!.id;
  }
}
