// Syntax of an e-mail address as SMTP carries it (RFC 5321 4.1.2 Mailbox): a dot-atom or
// quoted local part, '@', and a host name. Address literals (`user@[192.0.2.1]`) are refused:
// there is no MX to authenticate for them.

import { normaliseHostName } from './domain-name.ts';

// RFC 5321 4.5.3.1: the limits an SMTP server must accept.
export const MAX_LOCAL_PART = 64;
export const MAX_ADDRESS = 254;

const ATOM = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+$/;
const QUOTED = /^"([\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*"$/;
// Internationalised local parts (RFC 6531): printable non-ASCII is allowed in atoms.
const UTF8_ATOM = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\u{10ffff}-]+$/u;

export interface Address {
  local: string;
  /** ASCII (punycode) lower-case domain. */
  domain: string;
  /** `local@domain` in the canonical form used for storage and comparison of domains. */
  address: string;
}

export type AddressCheck = ({ ok: true } & Address) | { ok: false; problem: string };

export function checkAddress(input: string): AddressCheck {
  const text = input.trim();
  const at = text.lastIndexOf('@');
  if (at <= 0 || at === text.length - 1)
    return { ok: false, problem: `"${input}" is not an e-mail address` };
  const local = text.slice(0, at);
  const domainText = text.slice(at + 1);
  if (Buffer.byteLength(local) > MAX_LOCAL_PART) {
    return { ok: false, problem: `the part before @ is longer than ${MAX_LOCAL_PART} octets` };
  }
  const dotAtom = local.split('.').every((part) => ATOM.test(part) || UTF8_ATOM.test(part));
  if (!dotAtom && !QUOTED.test(local)) {
    return { ok: false, problem: `"${local}" is not a valid local part` };
  }
  if (domainText.startsWith('['))
    return { ok: false, problem: 'address literals are not accepted' };
  const domain = normaliseHostName(domainText);
  if (domain === undefined) return { ok: false, problem: `"${domainText}" is not a valid domain` };
  const address = `${local}@${domain}`;
  if (Buffer.byteLength(address) > MAX_ADDRESS) {
    return { ok: false, problem: `the address is longer than ${MAX_ADDRESS} octets` };
  }
  return { ok: true, local, domain, address };
}
