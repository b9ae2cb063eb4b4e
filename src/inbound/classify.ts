// What a message that reached a bounce address is: a delivery status notification (RFC 3464
// multipart/report), a plain-text bounce in the style of older MTAs, an auto-reply (RFC 3834,
// out-of-office) that is ignored, or something we cannot use, which is kept for inspection.

import { type HeaderValue, type ParsedMail, simpleParser } from 'mailparser';
import {
  type DeliveryStatus,
  type DsnAction,
  type DsnRecipientReport,
  MAX_DIAGNOSTIC_LENGTH,
  parseDeliveryStatus,
} from './delivery-status.ts';

export interface BounceReport extends DeliveryStatus {
  /** The Message-ID of the returned message (from its returned headers), if any. */
  originalMessageId: string | null;
}

export type Classification =
  | { kind: 'dsn' | 'plain_bounce'; report: BounceReport }
  | { kind: 'auto_reply'; why: string }
  | { kind: 'unparseable'; problem: string };

const DSN_TYPES = ['message/delivery-status', 'message/global-delivery-status'];
const RETURNED_HEADER_TYPES = ['text/rfc822-headers', 'message/rfc822', 'message/global'];

// Subjects and senders of non-DSN bounces (Exim's classic format, qmail, Sendmail, old
// Exchange). Plain-text bounces are only believed when sender or subject says "bounce".
const BOUNCE_SUBJECT =
  /undeliver|undelivered|returned mail|delivery (status notification|failure|has failed)|mail delivery (failed|failure|subsystem)|failure notice|could not be delivered|delivery problem|warning: message .* delayed|delayed mail/i;
const BOUNCE_SENDER = /^(mailer-daemon|postmaster|mail-daemon|mail delivery)/i;
const AUTO_REPLY_SUBJECT =
  /^\s*(auto(matic)?[ -]?(reply|response|antwort|antwoord)|autoreply|out of (the )?office|abwesenheit|afwezig|absent|absence|vacation|auto:)/i;

const PERMANENT_TEXT =
  /permanent(ly)? (error|failure)|could not be delivered|undeliverable|delivery (has )?failed|user unknown|unknown user|no such (user|mailbox|recipient)|does not exist|recipient not found|address rejected|mailbox unavailable|mailbox (is )?disabled/i;
const DELAY_TEXT =
  /delayed|not (yet )?been delivered|will (continue|keep) (trying|to try)|still trying|temporar(y|ily) (error|failure|problem)|retry/i;
const ADDRESS_PROBLEM_TEXT =
  /user unknown|unknown user|no such (user|mailbox|recipient)|does not exist|recipient not found|address rejected|invalid (recipient|mailbox)/i;
const SMTP_REPLY = /\b([245])\d\d[ -]((?:[245])\.\d{1,3}\.\d{1,3})?/;
const ENHANCED_IN_TEXT = /\b([245]\.\d{1,3}\.\d{1,3})\b/;
const ADDRESS_IN_TEXT = /<?([A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})>?/;

/** Reads a message as received. Never throws: anything mailparser cannot read is `unparseable`. */
export async function classifyMessage(raw: Buffer, mailFrom: string): Promise<Classification> {
  let mail: ParsedMail;
  try {
    // keepDeliveryStatus: the report part stays an attachment instead of joining the text.
    mail = await simpleParser(raw, { keepDeliveryStatus: true, skipImageLinks: true });
  } catch (error) {
    return { kind: 'unparseable', problem: `MIME parsing failed: ${(error as Error).message}` };
  }
  const contentType = header(mail, 'content-type');
  const reportType = contentType?.params['report-type']?.toLowerCase();

  if (contentType?.value === 'multipart/report' && reportType === 'disposition-notification') {
    return { kind: 'auto_reply', why: 'read receipt (RFC 8098 disposition notification)' };
  }
  const statusPart = mail.attachments.find((a) => DSN_TYPES.includes(a.contentType));
  if (statusPart !== undefined) {
    const status = parseDeliveryStatus(statusPart.content.toString('utf8'));
    if (status.recipients.length === 0) {
      return { kind: 'unparseable', problem: 'delivery report without a usable recipient block' };
    }
    return { kind: 'dsn', report: { ...status, originalMessageId: returnedMessageId(mail) } };
  }
  if (reportType === 'delivery-status') {
    return {
      kind: 'unparseable',
      problem: 'multipart/report without a message/delivery-status part',
    };
  }

  const from = mail.from?.value[0]?.address ?? '';
  const looksLikeBounce = BOUNCE_SENDER.test(from) || BOUNCE_SUBJECT.test(mail.subject ?? '');
  const autoReply = autoReplyReason(mail);
  // A bounce from a null sender that also says Auto-Submitted (Exim does) is still a bounce.
  if (looksLikeBounce || (mailFrom === '' && autoReply === undefined)) {
    const report = plainBounce(mail);
    if (report !== undefined) return { kind: 'plain_bounce', report };
  }
  if (autoReply !== undefined) return { kind: 'auto_reply', why: autoReply };
  return {
    kind: 'unparseable',
    problem: looksLikeBounce
      ? 'looks like a bounce, but neither a status nor a failure/delay statement was found'
      : 'not a delivery report',
  };
}

function header(
  mail: ParsedMail,
  name: string,
): { value: string; params: Record<string, string> } | undefined {
  const value: HeaderValue | undefined = mail.headers.get(name);
  if (value === undefined) return undefined;
  if (typeof value === 'object' && value !== null && 'value' in value && 'params' in value) {
    const params: Record<string, string> = {};
    for (const [key, param] of Object.entries(value.params)) {
      if (typeof param === 'string') params[key] = param;
    }
    return { value: String(value.value).toLowerCase(), params };
  }
  return { value: String(value).toLowerCase(), params: {} };
}

function textHeader(mail: ParsedMail, name: string): string | undefined {
  const value = mail.headers.get(name);
  return value === undefined ? undefined : String(value).trim().toLowerCase();
}

/** Why the message is an automatic reply, or undefined. */
function autoReplyReason(mail: ParsedMail): string | undefined {
  const submitted = textHeader(mail, 'auto-submitted');
  if (submitted !== undefined && submitted !== 'no') return `Auto-Submitted: ${submitted}`;
  for (const name of ['x-autoreply', 'x-autorespond', 'x-autoresponder']) {
    if (mail.headers.has(name)) return `${name} header`;
  }
  const precedence = textHeader(mail, 'precedence');
  if (precedence === 'auto_reply') return 'Precedence: auto_reply';
  if (AUTO_REPLY_SUBJECT.test(mail.subject ?? '')) return `subject "${mail.subject ?? ''}"`;
  return undefined;
}

function returnedMessageId(mail: ParsedMail): string | null {
  const part = mail.attachments.find((a) => RETURNED_HEADER_TYPES.includes(a.contentType));
  if (part === undefined) return null;
  const match = /^message-id:\s*(<[^>\r\n]+>)/im.exec(part.content.toString('utf8'));
  return match?.[1] ?? null;
}

/** A bounce without a machine-readable report: the verdict is read from its words. */
function plainBounce(mail: ParsedMail): BounceReport | undefined {
  const text = (mail.text ?? '').replace(/\r\n?/g, '\n');
  const lines = text.split('\n');
  const replyIndex = lines.findIndex((l) => SMTP_REPLY.test(l) || ENHANCED_IN_TEXT.test(l));
  const diagnostic =
    replyIndex < 0
      ? null
      : lines
          .slice(replyIndex, replyIndex + 3)
          .map((l) => l.trim())
          .filter((l) => l !== '')
          .join(' ')
          .slice(0, MAX_DIAGNOSTIC_LENGTH);
  let status = diagnostic === null ? null : (ENHANCED_IN_TEXT.exec(diagnostic)?.[1] ?? null);
  const replyClass = diagnostic === null ? undefined : SMTP_REPLY.exec(diagnostic)?.[1];

  let action: DsnAction | undefined;
  if (status?.startsWith('5') || replyClass === '5') action = 'failed';
  else if (status?.startsWith('4') || replyClass === '4') action = 'delayed';
  else if (PERMANENT_TEXT.test(text)) action = 'failed';
  else if (DELAY_TEXT.test(text) || DELAY_TEXT.test(mail.subject ?? '')) action = 'delayed';
  if (action === undefined) return undefined;
  // A bare "550 user unknown" still is a bad mailbox: RFC 3463 5.1.1.
  if (status === null && action === 'failed' && ADDRESS_PROBLEM_TEXT.test(text)) status = '5.1.1';

  const recipient: DsnRecipientReport = {
    finalRecipient: failedAddress(lines),
    originalRecipient: null,
    action,
    status,
    diagnostic,
    remoteMta: null,
  };
  return {
    reportingMta: null,
    recipients: [recipient],
    originalMessageId: returnedMessageId(mail),
  };
}

/** The first address listed after the explanation (Exim indents the failed addresses). */
function failedAddress(lines: string[]): string | null {
  for (const line of lines) {
    if (!/^\s+\S/.test(line)) continue;
    const match = ADDRESS_IN_TEXT.exec(line);
    if (match?.[1] !== undefined) return match[1].toLowerCase();
  }
  return null;
}
