// Syntax of an e-mail address as SMTP carries it (RFC 5321 4.1.2 Mailbox, with the UTF-8 of
// RFC 6531): a dot-string or quoted-string local part, '@', and a host name. Every address
// the API takes goes through checkAddress (POST /message sender, recipients and From header,
// notification_email, suppressions, the security check), and it accepts exactly what the
// SMTP client can put between the < > of MAIL FROM and RCPT TO: an address that passes here
// is never refused by the client later, where it could only be deferred until it expired.
//
// - Address literals (`user@[192.0.2.1]`) are refused: there is no MX to authenticate.
// - Control characters (C0, DEL, C1 such as U+0085), line and paragraph separators
//   (U+2028, U+2029), invisible formatting characters and spaces other than U+0020 are
//   refused anywhere; U+0020 only inside quotes. Nothing is trimmed: a stray space or line
//   break is the caller's mistake to hear about, not ours to guess around.
// - Quoted local parts are kept in the simplest form (RFC 5321 4.1.2 "SHOULD NOT be used
//   unless necessary"): `"jan"@x` becomes `jan@x`, `"a\b c"@x` becomes `"ab c"@x`.
// - A local part with non-ASCII characters (EAI) can only be delivered to a server that
//   offers SMTPUTF8; `utf8` says so. Domains become A-labels (punycode), which need nothing.

import { normaliseHostName } from './domain-name.ts';

// RFC 5321 4.5.3.1: the limits an SMTP server must accept.
export const MAX_LOCAL_PART = 64;
export const MAX_ADDRESS = 254;

// RFC 5321 atext, plus any non-ASCII character (RFC 6531 3.3); the forbidden ones are
// refused before.
const ATOM = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\u{10ffff}-]+$/u;
// RFC 5321 qtextSMTP (printable ASCII but " and \) and non-ASCII.
const QTEXT = /^[\x20\x21\x23-\x5b\x5d-\x7e\u0080-\u{10ffff}]$/u;
// Control characters, unpaired surrogates, line/paragraph separators, non-ASCII spaces, and
// format characters except the joiners U+200C/U+200D that some scripts need in words.
const FORBIDDEN = /[\p{Cc}\p{Cs}\p{Zl}\p{Zp}\p{Cf}\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]/u;
const JOINERS = new Set([0x200c, 0x200d]);

export interface Address {
  /** The local part in its simplest form: unquoted when it can be, else quoted. */
  local: string;
  /** ASCII (punycode) lower-case domain. */
  domain: string;
  /** `local@domain` in the canonical form used for storage and comparison of domains. */
  address: string;
  /** The local part is not ASCII: it needs SMTPUTF8 (RFC 6531) to be sent. */
  utf8: boolean;
}

export type AddressCheck = ({ ok: true } & Address) | { ok: false; problem: string };

export function checkAddress(input: string): AddressCheck {
  const bad = forbiddenCharacter(input);
  if (bad !== undefined) return { ok: false, problem: bad };
  const at = input.lastIndexOf('@');
  if (at <= 0 || at === input.length - 1)
    return { ok: false, problem: `"${input}" is not an e-mail address` };
  const localText = input.slice(0, at);
  const domainText = input.slice(at + 1);
  const content = localPartContent(localText);
  if (typeof content !== 'string') return { ok: false, problem: content.problem };
  if (content === '') return { ok: false, problem: 'the part before @ is empty' };
  const local = isDotString(content) ? content : `"${content.replace(/["\\]/g, '\\$&')}"`;
  if (Buffer.byteLength(local) > MAX_LOCAL_PART) {
    return { ok: false, problem: `the part before @ is longer than ${MAX_LOCAL_PART} octets` };
  }
  if (domainText.includes(' '))
    return { ok: false, problem: 'the address contains a space outside quotes' };
  if (domainText.startsWith('['))
    return { ok: false, problem: 'address literals are not accepted' };
  const domain = normaliseHostName(domainText);
  if (domain === undefined) return { ok: false, problem: `"${domainText}" is not a valid domain` };
  const address = `${local}@${domain}`;
  if (Buffer.byteLength(address) > MAX_ADDRESS) {
    return { ok: false, problem: `the address is longer than ${MAX_ADDRESS} octets` };
  }
  return { ok: true, local, domain, address, utf8: !/^[\x20-\x7e]*$/.test(local) };
}

/**
 * The domain of an address or of a domain name given alone (POST /security/check and
 * `securemail check` take both), with the same character rules as checkAddress.
 */
export function recipientDomain(
  input: string,
): { ok: true; domain: string } | { ok: false; problem: string } {
  if (input.includes('@')) {
    const address = checkAddress(input);
    return address.ok ? { ok: true, domain: address.domain } : address;
  }
  const bad = forbiddenCharacter(input);
  if (bad !== undefined) return { ok: false, problem: bad };
  const domain = /\s/.test(input) ? undefined : normaliseHostName(input);
  if (domain === undefined)
    return { ok: false, problem: `"${input}" is neither an e-mail address nor a domain name` };
  return { ok: true, domain };
}

/** Why the text cannot be (part of) an address, naming the first offending character. */
function forbiddenCharacter(text: string): string | undefined {
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (!FORBIDDEN.test(char) || JOINERS.has(code)) continue;
    const name = `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
    const what = /\p{Cc}/u.test(char)
      ? 'a control character'
      : /[\p{Zl}\p{Zp}]/u.test(char)
        ? 'a line or paragraph separator'
        : /\p{Cs}/u.test(char)
          ? 'half of a surrogate pair'
          : /\p{Cf}/u.test(char)
            ? 'an invisible formatting character'
            : 'a space other than U+0020';
    return `the address contains ${name}, ${what}, which is not allowed`;
  }
  return undefined;
}

/** The local part's text (quotes and escapes removed), or why it is not a local part. */
function localPartContent(local: string): string | { problem: string } {
  if (!local.startsWith('"')) {
    if (local.includes(' ')) return { problem: 'the address contains a space outside quotes' };
    return isDotString(local) ? local : { problem: `"${local}" is not a valid local part` };
  }
  let content = '';
  for (let i = 1; i < local.length; i++) {
    const char = local[i]!;
    if (char === '"') {
      if (i !== local.length - 1) {
        return { problem: 'text after the closing quote must be "@domain"' };
      }
      return content;
    }
    if (char === '\\') {
      // RFC 5321 quoted-pairSMTP: a backslash and one printable ASCII character.
      const next = local[i + 1];
      if (next === undefined || !/^[\x20-\x7e]$/.test(next))
        return { problem: 'a backslash in quotes must be followed by a printable ASCII character' };
      content += next;
      i++;
      continue;
    }
    const code = local.codePointAt(i)!;
    const whole = String.fromCodePoint(code);
    if (!QTEXT.test(whole)) return { problem: `"${local}" is not a valid quoted local part` };
    content += whole;
    if (whole.length === 2) i++;
  }
  return { problem: `the quote in "${local}" is not closed` };
}

function isDotString(text: string): boolean {
  return text.split('.').every((atom) => ATOM.test(atom));
}
