// The address a data subject's request is about, and how it is recognised in what we hold.
//
// Rule (docs/privacy.md): the address is checked and put in the canonical form submission
// stores (src/accounts/email-address.ts: simplest local part, lower-case A-label domain),
// then compared without regard to case in BOTH parts. The domain part is case-insensitive by
// the standard; the local part may in theory be case-sensitive (RFC 5321 2.4), but no mail
// system we deliver to treats Jan@ and jan@ as two people, and the suppression list already
// compares whole addresses without case. So a request for jan@example.nl finds what was sent
// to Jan@Example.NL as well, and an erasure never leaves a differently-cased copy behind.

import { checkAddress } from '../accounts/email-address.ts';
import { AppError } from '../errors.ts';
import { erasedAddress } from '../recipients/erasure.ts';

/** The request's address, canonical and lower-cased, or 400 naming `field`. */
export function subjectAddress(input: string, field: string): string {
  const check = checkAddress(input);
  if (!check.ok) throw new AppError('validation_failed', { field, message: check.problem });
  return check.address.toLowerCase();
}

/**
 * Whether text (a subject, a decoded or raw message, a notice) names the address. Raw MIME
 * may break a quoted-printable line inside it (`=` at a line end), so the text is searched
 * with those soft breaks taken out too. A base64-encoded part is not decoded: docs/privacy.md
 * says so, and bodies are deleted whole by an erasure anyway.
 */
export function namesAddress(text: string, address: string): boolean {
  const lower = text.toLowerCase();
  return lower.includes(address) || lower.replace(/=\r?\n/g, '').includes(address);
}

/** Replaces every occurrence of the address in text (any case) by its erased form. */
export function scrubberFor(address: string): (text: string) => string {
  const pattern = new RegExp(address.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'giu');
  const replacement = erasedAddress(address);
  return (text) => text.replace(pattern, replacement);
}
