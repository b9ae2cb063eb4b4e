// POST /message without MIME: `{sender, recipients, subject, text, html?, attachments?,
// headers?}` is composed here into the MIME message the raw path takes, with nodemailer's
// MailComposer (maintained, and already what our notifications are built with). The result
// then goes through exactly the checks and storage of a raw submission (submit.ts), so the
// two ways of sending cannot drift apart.
//
// Nothing in the input can make the composer read a file or fetch a URL: attachments are
// only ever base64 content, and file and URL access are switched off besides.

import { createHash, randomUUID } from 'node:crypto';
import addressparser from 'nodemailer/lib/addressparser';
import MailComposer from 'nodemailer/lib/mail-composer';
import { checkAddress } from '../accounts/email-address.ts';
import { AppError } from '../errors.ts';
import type { SubmitInput } from './submit.ts';

export interface StructuredAttachment {
  filename: string;
  /** The file's bytes in base64. */
  content_base64: string;
  /** Default: guessed from the file name. */
  content_type?: string | undefined;
}

/** The fields of a structured submission (besides sender and recipients). */
export interface StructuredMessage {
  subject?: string | undefined;
  text?: string | undefined;
  html?: string | undefined;
  attachments?: StructuredAttachment[] | undefined;
  headers?: Record<string, string> | undefined;
}

export const STRUCTURED_FIELDS = ['subject', 'text', 'html', 'attachments', 'headers'] as const;

/**
 * Headers the composer writes itself from other fields (or that would make the MIME
 * structure lie), so they may not be given in `headers`.
 */
const COMPOSER_HEADERS = new Set([
  'subject',
  'bcc',
  'mime-version',
  'content-type',
  'content-transfer-encoding',
  'content-disposition',
  'content-id',
]);

/** Headers MailComposer formats as addresses or dates; the rest are passed as given. */
const COMPOSER_FIELDS: Record<string, string> = {
  from: 'from',
  to: 'to',
  cc: 'cc',
  'reply-to': 'replyTo',
  'in-reply-to': 'inReplyTo',
  references: 'references',
};

const FIELD_NAME = /^[\x21-\x39\x3b-\x7e]+$/;
const MESSAGE_ID = /^<[^<>\s@]+@[^<>\s@]+>$/;
const CONTENT_TYPE = /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/i;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

type Body = SubmitInput & StructuredMessage;

export function isStructured(body: Body): boolean {
  return STRUCTURED_FIELDS.some((f) => body[f] !== undefined);
}

/**
 * The submission as the raw path takes it: unchanged when it carries MIME, else with the
 * composed message in `message_base64`. Validation errors name the field at fault.
 */
export async function rawSubmission(body: Body, now: number): Promise<SubmitInput> {
  if (!isStructured(body)) return body;
  if (body.message !== undefined || body.message_base64 !== undefined) {
    throw invalid(
      body.message !== undefined ? 'message' : 'message_base64',
      'send either the MIME message (message or message_base64) or its parts (subject, text, html, attachments, headers), not both',
    );
  }
  const raw = await composeMessage(body, now);
  return {
    sender: body.sender,
    recipients: body.recipients,
    message_base64: raw.toString('base64'),
  };
}

export async function composeMessage(body: Body, now: number): Promise<Buffer> {
  if (body.subject === undefined) throw invalid('subject', 'is required with text');
  if (body.text === undefined) throw invalid('text', 'is required with subject');
  const sender = checkAddress(body.sender);
  if (!sender.ok) throw invalid('sender', sender.problem);

  const headers = checkedHeaders(body.headers ?? {}, sender.domain);
  const attachments = (body.attachments ?? []).map(checkedAttachment);
  const date = headers.take('date') ?? new Date(now);
  const messageId = headers.take('message-id') ?? `<${randomUUID()}@${sender.domain}>`;
  const fields: Record<string, string> = {};
  for (const [name, key] of Object.entries(COMPOSER_FIELDS)) {
    const value = headers.take(name);
    if (value !== undefined) fields[key] = value;
  }
  fields.from ??= sender.address;
  // Without a To header the recipients of a bulk send do not see each other.
  fields.to ??= body.recipients.length === 1 ? body.recipients[0]! : 'undisclosed-recipients:;';

  const composer = new MailComposer({
    ...fields,
    subject: body.subject,
    date,
    messageId,
    text: body.text,
    ...(body.html === undefined ? {} : { html: body.html }),
    attachments: attachments.map((a) => ({
      filename: a.filename,
      content: a.content,
      ...(a.contentType === undefined ? {} : { contentType: a.contentType }),
    })),
    headers: headers.rest(),
    // The same input composes the same bytes: with the same Message-ID and Date a retry is
    // recognised as one (submit.ts), instead of a conflict over random MIME boundaries.
    baseBoundary: boundaryFor(body, date, messageId),
    newline: '\r\n',
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  return composer.compile().build();
}

interface HeaderSet {
  /** The value of a header by lower-case name, removed from the set. */
  take(lowerName: string): string | undefined;
  /** Headers not taken, as given. */
  rest(): Array<{ key: string; value: string }>;
}

function checkedHeaders(input: Record<string, string>, senderDomain: string): HeaderSet {
  const byName = new Map<string, { key: string; value: string }>();
  for (const [key, value] of Object.entries(input)) {
    const field = `headers.${key}`;
    const lower = key.toLowerCase();
    if (!FIELD_NAME.test(key)) throw invalid(field, 'is not a header field name');
    if (COMPOSER_HEADERS.has(lower)) {
      throw invalid(
        field,
        lower === 'subject'
          ? 'give the subject in the subject field'
          : lower === 'bcc'
            ? 'Bcc is not sent; list every address in recipients'
            : 'is written by the composer; send raw MIME in message to set it yourself',
      );
    }
    if (byName.has(lower)) throw invalid(field, `is given twice (as ${byName.get(lower)!.key})`);
    if (/[\r\n\0]/.test(value)) throw invalid(field, 'must be one line');
    byName.set(lower, { key, value: value.trim() });
  }

  const from = byName.get('from');
  if (from !== undefined) {
    const parsed = addressparser(from.value, { flatten: true }) as Array<{ address?: string }>;
    const address = parsed.length === 1 ? checkAddress(parsed[0]?.address ?? '') : undefined;
    if (address === undefined || !address.ok) {
      throw invalid(`headers.${from.key}`, 'must hold exactly one e-mail address');
    }
    if (address.domain !== senderDomain) {
      throw invalid(
        `headers.${from.key}`,
        `must be an address in the sender's domain ${senderDomain}`,
      );
    }
  }
  const date = byName.get('date');
  if (date !== undefined && Number.isNaN(Date.parse(date.value.replace(/\([^)]*\)/g, '')))) {
    throw invalid(`headers.${date.key}`, `"${date.value}" is not a valid date`);
  }
  const id = byName.get('message-id');
  if (id !== undefined && !MESSAGE_ID.test(id.value)) {
    throw invalid(`headers.${id.key}`, 'must look like <unique@domain>');
  }

  return {
    take(lowerName) {
      const found = byName.get(lowerName);
      byName.delete(lowerName);
      return found?.value;
    },
    rest: () => [...byName.values()],
  };
}

function checkedAttachment(
  attachment: StructuredAttachment,
  i: number,
): { filename: string; content: Buffer; contentType: string | undefined } {
  const field = `attachments.${i}`;
  if (/[\p{Cc}/\\]/u.test(attachment.filename)) {
    throw invalid(`${field}.filename`, 'must be a file name without path or control characters');
  }
  const text = attachment.content_base64.replace(/\s+/g, '');
  if (!BASE64.test(text)) throw invalid(`${field}.content_base64`, 'is not valid base64');
  if (attachment.content_type !== undefined && !CONTENT_TYPE.test(attachment.content_type)) {
    throw invalid(`${field}.content_type`, 'must be a media type such as application/pdf');
  }
  return {
    filename: attachment.filename,
    content: Buffer.from(text, 'base64'),
    contentType: attachment.content_type,
  };
}

function boundaryFor(body: Body, date: string | Date, messageId: string): string {
  return createHash('sha256')
    .update(
      JSON.stringify([
        body.sender,
        body.recipients,
        body.subject,
        body.text,
        body.html ?? null,
        body.attachments ?? [],
        body.headers ?? {},
        String(date),
        messageId,
      ]),
    )
    .digest('hex')
    .slice(0, 24);
}

function invalid(field: string, problem: string): AppError {
  return new AppError('validation_failed', { field, message: `${field}: ${problem}` });
}
