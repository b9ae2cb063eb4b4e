// SMTP replies (RFC 5321 section 4.2) and the error every SMTP step throws.

export interface SmtpReply {
  code: number;
  /** Enhanced status code (RFC 3463) from the first line, e.g. `2.0.0`, when present. */
  enhanced?: string;
  /** Reply text, lines joined with `\n`, without codes. */
  text: string;
}

/** The steps of a session, named in errors and evidence. */
export type SmtpStep =
  | 'connect'
  | 'greeting'
  | 'ehlo'
  | 'starttls'
  | 'tls-handshake'
  | 'ehlo-tls'
  | 'mail'
  | 'rcpt'
  | 'data'
  | 'message'
  | 'rset'
  | 'quit';

/**
 * - `reply`: the server answered with an unexpected code.
 * - `timeout`: no (complete) reply in time.
 * - `closed`: the connection closed before a reply.
 * - `network`: a socket error (refused, reset, unreachable).
 * - `protocol`: the server sent something that is not an SMTP reply, or too much of it.
 * - `tls`: the TLS handshake failed.
 * - `usage`: our own misuse (bad address, command before verification).
 */
export type SmtpErrorKind =
  | 'reply'
  | 'timeout'
  | 'closed'
  | 'network'
  | 'protocol'
  | 'tls'
  | 'usage';

export class SmtpError extends Error {
  readonly step: SmtpStep;
  readonly kind: SmtpErrorKind;
  readonly reply: SmtpReply | undefined;
  /** Node/OpenSSL error code for network and TLS failures (e.g. `ECONNREFUSED`). */
  readonly causeCode: string | undefined;

  constructor(
    step: SmtpStep,
    kind: SmtpErrorKind,
    message: string,
    details: { reply?: SmtpReply; causeCode?: string } = {},
  ) {
    super(message);
    this.name = 'SmtpError';
    this.step = step;
    this.kind = kind;
    this.reply = details.reply;
    this.causeCode = details.causeCode;
  }

  get code(): number | undefined {
    return this.reply?.code;
  }

  /** Only a 5xx reply is permanent; timeouts, network errors and 4xx may clear up. */
  get permanent(): boolean {
    return this.reply !== undefined && this.reply.code >= 500;
  }
}

/** RFC 5321 4.5.3.1.5 allows 512 octets per reply line; we tolerate more but not unbounded. */
export const MAX_REPLY_LINE_OCTETS = 8192;
/** A bound on multi-line replies (an EHLO reply has a few dozen lines at most). */
export const MAX_REPLY_LINES = 256;

const REPLY_LINE = /^([2-5]\d\d)(?:([ -])(.*))?$/;
const ENHANCED = /^([245]\.\d{1,3}\.\d{1,3})(?: |$)/;

export interface ReplyLine {
  code: number;
  last: boolean;
  text: string;
}

/** Parses one reply line (without CRLF); undefined when it is not a reply line. */
export function parseReplyLine(line: string): ReplyLine | undefined {
  const match = REPLY_LINE.exec(line);
  if (!match) return undefined;
  return { code: Number(match[1]), last: match[2] !== '-', text: match[3] ?? '' };
}

/** Joins the lines of one reply; the enhanced code is taken from the first line. */
export function buildReply(lines: ReplyLine[]): SmtpReply {
  const first = lines[0];
  if (!first) throw new Error('empty reply');
  const enhanced = ENHANCED.exec(first.text)?.[1];
  const texts = lines.map((l) => (enhanced ? l.text.replace(ENHANCED, '') : l.text));
  return enhanced
    ? { code: first.code, enhanced, text: texts.join('\n') }
    : { code: first.code, text: texts.join('\n') };
}

/** `250 2.0.0 text` form for transcripts and error messages. */
export function formatReply(reply: SmtpReply): string {
  const head = reply.enhanced ? `${reply.code} ${reply.enhanced}` : String(reply.code);
  return `${head} ${reply.text.split('\n').join(' | ')}`;
}

/** EHLO keywords (upper-case) with their parameters; the first line is the greeting. */
export function parseCapabilities(reply: SmtpReply): Map<string, string> {
  const capabilities = new Map<string, string>();
  for (const line of reply.text.split('\n').slice(1)) {
    const [keyword, ...params] = line.trim().split(/\s+/);
    if (keyword) capabilities.set(keyword.toUpperCase(), params.join(' '));
  }
  return capabilities;
}

/** The remote queue id from a reply to the end of DATA, when the server names one. */
export function queueIdFrom(reply: SmtpReply): string | undefined {
  const match = /(?:queued as|id=|queue id)\s*<?([A-Za-z0-9._@-]+)>?/i.exec(reply.text);
  return match?.[1];
}
