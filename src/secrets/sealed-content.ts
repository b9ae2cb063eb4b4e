// Content we keep that can carry personal data, sealed with the master key at rest (besides
// message bodies, DKIM keys and webhook secrets, which their own modules seal):
//
//   messages.subject_sealed                  the Subject, for GET /message and GET /messages
//   account_notifications.subject_sealed,    notices mailed to the account's notification
//                         .body_sealed       address (domain unverified, webhook disabled)
//   inbound_messages.raw_sealed              what the bounce MX kept of a received message
//
// Each field is sealed and opened here only, so its purpose and context are spelled once:
// the context is the row's id, so a value copied into another row (or column) does not open.
// Reading needs the master key, which only the service layer holds; repositories store and
// return the sealed text.

import type { Db } from '../store/database.ts';
import type { ClearContentSealer } from '../store/sealed-content.migration.ts';
import { assertMasterKeyMatches } from './master-key.ts';
import { openText, sealToText } from './sealed-box.ts';

export function sealSubject(
  masterKey: Buffer,
  messageId: string,
  subject: string | null | undefined,
): string | null {
  return subject == null ? null : sealToText(masterKey, 'message-subject', messageId, subject);
}

/** Throws `SealedBoxError` when the value was not sealed for this message with this key. */
export function openSubject(
  masterKey: Buffer,
  messageId: string,
  sealed: string | null,
): string | null {
  return sealed === null
    ? null
    : openText(masterKey, 'message-subject', messageId, sealed).toString('utf8');
}

export interface NoticeText {
  subject: string;
  body: string;
}

export function sealNotice(
  masterKey: Buffer,
  noticeId: string,
  notice: NoticeText,
): { subject_sealed: string; body_sealed: string } {
  return {
    subject_sealed: sealToText(masterKey, 'notice-subject', noticeId, notice.subject),
    body_sealed: sealToText(masterKey, 'notice-body', noticeId, notice.body),
  };
}

export function openNotice(
  masterKey: Buffer,
  row: { id: string; subject_sealed: string; body_sealed: string },
): NoticeText {
  return {
    subject: openText(masterKey, 'notice-subject', row.id, row.subject_sealed).toString('utf8'),
    body: openText(masterKey, 'notice-body', row.id, row.body_sealed).toString('utf8'),
  };
}

/** What the bounce MX keeps of a received message, bytes as received (not text). */
export function sealKeptMessage(masterKey: Buffer, inboundId: string, raw: Buffer): string {
  return sealToText(masterKey, 'inbound-message', inboundId, raw);
}

/** The kept message, or null when its content was not kept. */
export function openKeptMessage(
  masterKey: Buffer,
  row: { id: string; raw_sealed: string | null },
): Buffer | null {
  return row.raw_sealed === null
    ? null
    : openText(masterKey, 'inbound-message', row.id, row.raw_sealed);
}

/**
 * What migration 0007 needs to seal the values earlier versions stored in clear. The key is
 * checked against the database's check value first (and recorded there when the database
 * has none yet): content sealed with a wrong key could never be read again.
 */
export function clearContentSealer(masterKey: Buffer): ClearContentSealer {
  return {
    checkKey: (db: Db) => assertMasterKeyMatches({ db }, masterKey),
    subject: (messageId, subject) => sealToText(masterKey, 'message-subject', messageId, subject),
    notice: (noticeId, notice) => sealNotice(masterKey, noticeId, notice),
    keptMessage: (inboundId, raw) => sealKeptMessage(masterKey, inboundId, raw),
  };
}
