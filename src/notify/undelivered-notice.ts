// The words of a notice about undelivered recipients, for a sender who is not a mail
// administrator: per recipient domain what was wrong in plain words, what that domain's mail
// administrator can change, a short summary of the evidence, and a paragraph the sender can
// forward to that administrator; then the recipients still being tried. The explanations and
// fixes come from src/vocabulary/reasons.ts, as everywhere else.
//
// The same content is written twice, as text and as HTML (a multipart/alternative message).
// Recipient addresses, remote servers' replies and the original subject are text others
// chose: the HTML part escapes every one of them (escapeHtml), and nothing here builds markup
// from them in any other way.

import { reasonInfo } from '../vocabulary/reasons.ts';
import type { RecipientStatus } from '../vocabulary/recipient-statuses.ts';

/** Most addresses listed per group; a bulk message names the rest by count. */
export const MAX_LISTED = 20;

/** What one notice reports, gathered by notifications.ts. */
export interface NoticeFacts {
  messageId: string;
  messageIdHeader: string;
  sender: string;
  subject: string | null;
  createdAt: number;
  recipientCount: number;
  /** Recipients of the message per status now. */
  counts: Partial<Record<RecipientStatus, number>>;
  /** Recipients this notice reports, grouped by domain, state and reason. */
  reported: ReportedGroup[];
  /** Recipients still being tried, grouped by domain. */
  trying: TryingGroup[];
  /** How long temporary failures are retried, in hours (for "given up after ..."). */
  retryWindowHours: number;
  /** Whether an earlier notice of this message went out (this one reports later finals). */
  followUp: boolean;
}

export interface ReportedGroup {
  domain: string;
  status: RecipientStatus;
  reason: string | null;
  detail: string | null;
  addresses: string[];
  evidence: EvidenceLine | undefined;
}

export interface TryingGroup {
  domain: string;
  reason: string | null;
  detail: string | null;
  addresses: string[];
  /** When the last attempt will have been made (accepted + retry window). */
  until: number;
}

/** The latest attempt of one recipient of a group, summarised. */
export interface EvidenceLine {
  at: number;
  hostsTried: string[];
  dnssecMx: string | null;
  mtaSts: string | null;
  tlsVersion: string | null;
  reply: string | null;
}

export interface NoticeText {
  subject: string;
  text: string;
  html: string;
}

const HEADINGS: Partial<Record<RecipientStatus, (hours: number) => string>> = {
  refused_insecure: () => 'not sent: its mail server cannot be reached securely',
  bounced: () => 'rejected by its mail server',
  failed: () => 'could not be sent',
  expired: (hours) => `not delivered: given up after ${hours} hours of trying`,
};

/** A short paragraph per state, before the reason's own explanation. */
const WHAT_HAPPENED: Partial<Record<RecipientStatus, string>> = {
  refused_insecure:
    'Nothing was sent to these recipients: their mail server could not prove that the connection is encrypted and that it is the right server.',
  bounced: 'The mail server of these recipients refused the message or reported it undeliverable.',
  failed: 'The message could not be sent to these recipients.',
  expired:
    'Every attempt ended with a temporary problem, for as long as SecureMail keeps trying. Nothing was sent to them.',
};

export function composeNotice(facts: NoticeFacts): NoticeText {
  const reportedCount = facts.reported.reduce((n, g) => n + g.addresses.length, 0);
  const title = facts.subject ?? facts.messageIdHeader;
  const subject =
    facts.recipientCount === 1
      ? `Not delivered: ${title}`
      : `Not delivered to ${reportedCount} of ${facts.recipientCount} recipients: ${title}`;
  return {
    subject,
    text: textPart(facts, reportedCount),
    html: htmlPart(facts, reportedCount, subject),
  };
}

function intro(facts: NoticeFacts, reportedCount: number): string[] {
  const what = `"${facts.subject ?? '(no subject)'}"`;
  const whom =
    facts.recipientCount === 1
      ? 'its recipient'
      : `${reportedCount} of its ${facts.recipientCount} recipients`;
  return [
    `${facts.followUp ? 'Since our last notice, your' : 'Your'} message ${what} could not be delivered to ${whom}.`,
    `It was sent from ${facts.sender} on ${when(facts.createdAt)} (Message-ID <${facts.messageIdHeader}>).`,
    'SecureMail only hands mail to a mail server over an encrypted connection, after checking that it is the right server. Where that was not possible, nothing was sent: your message was not exposed to anyone.',
  ];
}

function tally(facts: NoticeFacts): string {
  const c = facts.counts;
  const parts = [
    `${c.delivered ?? 0} delivered`,
    `${(c.refused_insecure ?? 0) + (c.bounced ?? 0) + (c.failed ?? 0) + (c.expired ?? 0)} not delivered`,
  ];
  const open = (c.queued ?? 0) + (c.deferred ?? 0);
  if (open > 0) parts.push(`${open} still being tried`);
  if (c.suppressed) parts.push(`${c.suppressed} on your suppression list (not sent)`);
  return `All ${facts.recipientCount} recipients so far: ${parts.join(', ')}.`;
}

function heading(group: ReportedGroup, hours: number): string {
  return `${group.domain}: ${HEADINGS[group.status]?.(hours) ?? group.status}`;
}

function listed(addresses: string[]): { shown: string[]; more: number } {
  return {
    shown: addresses.slice(0, MAX_LISTED),
    more: Math.max(0, addresses.length - MAX_LISTED),
  };
}

/** The evidence in a few "what: value" lines; the full record is in the API. */
function evidenceItems(group: ReportedGroup): string[] {
  const items: string[] = [];
  const e = group.evidence;
  if (e !== undefined) {
    items.push(`last attempt: ${when(e.at)}`);
    if (e.hostsTried.length > 0) items.push(`mail servers tried: ${e.hostsTried.join('; ')}`);
    if (e.dnssecMx !== null) items.push(`DNSSEC of the MX answer: ${e.dnssecMx}`);
    if (e.mtaSts !== null) items.push(`MTA-STS policy: ${e.mtaSts}`);
    if (e.tlsVersion !== null) items.push(`TLS: ${e.tlsVersion}`);
    if (e.reply !== null) items.push(`the server replied: ${e.reply}`);
  }
  if (group.detail !== null) items.push(`details: ${group.detail}`);
  items.push(`reason code: ${group.reason ?? 'none'}`);
  return items;
}

/** The paragraph for the recipient domain's administrator, when the reason has advice. */
function forwardable(group: ReportedGroup): string | undefined {
  const info = reasonInfo(group.reason);
  if (info === undefined) return undefined;
  // The detail names the server and what it did; the hosts tried only when there is none.
  const technical = [
    group.detail ?? group.evidence?.hostsTried.join('; ') ?? '',
    `reason code ${group.reason}`,
  ].filter((p) => p !== '');
  return (
    `Hello, we tried to send e-mail to addresses at ${group.domain} through SecureMail, a service ` +
    'that only delivers mail over an encrypted connection to a mail server whose identity it can check. ' +
    `It could not deliver to ${group.domain}: ${lowerFirst(info.explanation)} ` +
    `To receive our mail, could you please look at this: ${lowerFirst(info.fix)} ` +
    `Technical details: ${technical.join('; ')}.`
  );
}

function tryingLine(group: TryingGroup): string {
  const info = reasonInfo(group.reason);
  const problem =
    group.reason === null
      ? 'not tried yet'
      : `${info?.explanation ?? group.reason}${group.detail === null ? '' : ` (${group.detail})`}`;
  return `${group.domain}: still trying until ${when(group.until)}. Last problem: ${problem}`;
}

function textPart(facts: NoticeFacts, reportedCount: number): string {
  const out: string[] = [];
  const para = (text: string, indent = '') => {
    out.push(...wrap(text, 76, indent), '');
  };
  out.push('Hello,', '');
  for (const p of intro(facts, reportedCount)) para(p);
  para(tally(facts));
  for (const group of facts.reported) {
    const title = heading(group, facts.retryWindowHours);
    out.push(title, '='.repeat(Math.min(title.length, 76)), '');
    const { shown, more } = listed(group.addresses);
    para(`Recipients: ${shown.join(', ')}${more > 0 ? `, and ${more} more` : ''}`);
    const info = reasonInfo(group.reason);
    const happened = WHAT_HAPPENED[group.status];
    para(
      `What was wrong: ${happened ?? ''}${info === undefined ? '' : ` ${info.explanation}`}`.trim(),
    );
    if (info !== undefined) {
      para(`What the mail administrator of ${group.domain} can change: ${info.fix}`);
    } else if (group.status === 'failed') {
      para('This was a problem on our side, not at the recipient: send the message again.');
    }
    out.push('Evidence:');
    for (const item of evidenceItems(group)) out.push(...wrap(item, 76, '  - ', '    '));
    out.push('');
    const forward = forwardable(group);
    if (forward !== undefined) {
      para(`You can forward this to the mail administrator of ${group.domain}:`);
      para(forward, '  > ');
    }
  }
  if (facts.trying.length > 0) {
    out.push('Still being tried', '=================', '');
    for (const group of facts.trying) {
      const { shown, more } = listed(group.addresses);
      para(tryingLine(group));
      para(`Recipients: ${shown.join(', ')}${more > 0 ? `, and ${more} more` : ''}`, '  ');
    }
    para(
      'Nothing to do for these yet: SecureMail keeps trying, and you hear from us again if it gives up.',
    );
  }
  para(
    `Every recipient's status, with the full evidence, is in the API: GET /message/${facts.messageId}`,
  );
  out.push('-- ', 'SecureMail (this message was sent automatically; replies are not read)');
  return `${out.join('\n')}\n`;
}

function htmlPart(facts: NoticeFacts, reportedCount: number, subject: string): string {
  const h = escapeHtml;
  const out: string[] = [
    '<!DOCTYPE html>',
    `<html><head><meta charset="utf-8"><title>${h(subject)}</title></head>`,
    '<body style="font-family: sans-serif; line-height: 1.4; max-width: 42em">',
    '<p>Hello,</p>',
  ];
  for (const p of intro(facts, reportedCount)) out.push(`<p>${h(p)}</p>`);
  out.push(`<p><strong>${h(tally(facts))}</strong></p>`);
  for (const group of facts.reported) {
    out.push(`<h2 style="font-size: 1.15em">${h(heading(group, facts.retryWindowHours))}</h2>`);
    const { shown, more } = listed(group.addresses);
    out.push(
      `<p>Recipients: ${shown.map((a) => `<code>${h(a)}</code>`).join(', ')}${more > 0 ? h(`, and ${more} more`) : ''}</p>`,
    );
    const info = reasonInfo(group.reason);
    const happened = WHAT_HAPPENED[group.status] ?? '';
    out.push(
      `<p><strong>What was wrong:</strong> ${h(`${happened}${info === undefined ? '' : ` ${info.explanation}`}`.trim())}</p>`,
    );
    if (info !== undefined) {
      out.push(
        `<p><strong>What the mail administrator of ${h(group.domain)} can change:</strong> ${h(info.fix)}</p>`,
      );
    } else if (group.status === 'failed') {
      out.push(
        '<p>This was a problem on our side, not at the recipient: send the message again.</p>',
      );
    }
    out.push(
      '<p style="margin-bottom: 0">Evidence:</p>',
      `<ul style="color: #555; margin-top: 0">${evidenceItems(group)
        .map((item) => `<li><small>${h(item)}</small></li>`)
        .join('')}</ul>`,
    );
    const forward = forwardable(group);
    if (forward !== undefined) {
      out.push(`<p>You can forward this to the mail administrator of ${h(group.domain)}:</p>`);
      out.push(
        `<blockquote style="border-left: 3px solid #ccc; margin-left: 0; padding-left: 1em">${h(forward)}</blockquote>`,
      );
    }
  }
  if (facts.trying.length > 0) {
    out.push('<h2 style="font-size: 1.15em">Still being tried</h2>', '<ul>');
    for (const group of facts.trying) {
      const { shown, more } = listed(group.addresses);
      out.push(
        `<li>${h(tryingLine(group))}<br>Recipients: ${shown.map((a) => `<code>${h(a)}</code>`).join(', ')}${more > 0 ? h(`, and ${more} more`) : ''}</li>`,
      );
    }
    out.push(
      '</ul>',
      '<p>Nothing to do for these yet: SecureMail keeps trying, and you hear from us again if it gives up.</p>',
    );
  }
  out.push(
    `<p>Every recipient's status, with the full evidence, is in the API: <code>GET /message/${h(facts.messageId)}</code></p>`,
    '<p style="color: #555"><small>SecureMail (this message was sent automatically; replies are not read)</small></p>',
    '</body></html>',
  );
  return `${out.join('\n')}\n`;
}

/** The five characters that can change the meaning of HTML text or an attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ENTITIES[c]!);
}

const HTML_ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

function when(ms: number): string {
  return new Date(ms).toUTCString();
}

function lowerFirst(text: string): string {
  return text.length > 1 && /^[A-Z][a-z]/.test(text)
    ? text[0]!.toLowerCase() + text.slice(1)
    : text;
}

/**
 * Words wrapped at `width` columns, the first line after `indent`, the others after `next`
 * (long words, such as addresses, stay whole).
 */
function wrap(text: string, width: number, indent: string, next = indent): string[] {
  const lines: string[] = [];
  let line = '';
  let prefix = indent;
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    if (line !== '' && prefix.length + line.length + 1 + word.length > width) {
      lines.push(prefix + line);
      prefix = next;
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(prefix + line);
  return lines;
}
