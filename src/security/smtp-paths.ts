// What may be written between the < > of MAIL FROM and RCPT TO, and the xtext of DSN
// parameters: the checks the SMTP client makes before a command line leaves, so that an
// address can never end a command early or smuggle another one.
import { SmtpError, type SmtpStep } from './smtp-reply.ts';

const SAFE_XTEXT = /^[\x21-\x7e]*$/;

/**
 * Whether `address` may go between the < > of MAIL FROM or RCPT TO as it is (RFC 5321
 * Mailbox, RFC 6531 with `utf8`): no control characters or line separators anywhere; space,
 * `<`, `>` and `"` only in a quoted local part, where a backslash escapes one printable
 * ASCII character; non-ASCII only with SMTPUTF8. The API's address check accepts no more.
 */
export function isSendablePath(address: string, utf8: boolean): boolean {
  let quoted = false;
  for (let i = 0; i < address.length; i++) {
    const c = address.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x2028 || c === 0x2029) return false;
    if (c > 0x7f && !utf8) return false;
    if (quoted) {
      if (c === 0x5c) {
        const next = address.charCodeAt(++i);
        if (!(next >= 0x20 && next <= 0x7e)) return false;
      } else if (c === 0x22) {
        quoted = false;
        if (address[i + 1] !== '@') return false;
      }
    } else if (c === 0x22) {
      if (i !== 0) return false;
      quoted = true;
    } else if (c === 0x20 || c === 0x3c || c === 0x3e || c === 0x5c) {
      return false;
    }
  }
  return !quoted;
}

export function checkPath(step: SmtpStep, address: string, utf8: boolean): void {
  if (!isSendablePath(address, utf8)) {
    const why = isAscii(address)
      ? 'address contains characters not allowed in a command'
      : 'the address is not ASCII and the transaction does not use SMTPUTF8';
    throw new SmtpError(step, 'usage', why);
  }
}

export function isAscii(text: string): boolean {
  return !/[\u0080-\uffff]/.test(text);
}

/** RFC 3461 xtext: printable ASCII except "+" and "=", which are hex-escaped. */
export function xtext(step: SmtpStep, value: string): string {
  if (!SAFE_XTEXT.test(value)) throw new SmtpError(step, 'usage', 'value is not printable ASCII');
  return value.replace(/[+=]/g, (c) => `+${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
