// Which domains may become a sending account: a registrable domain (the "apex", one label
// below a public suffix), judged with the Public Suffix List through tldts, plus the
// operator's own private suffixes (SECUREMAIL_PRIVATE_SUFFIXES, e.g. `internal`, `test`),
// which private deployments and staging networks use instead of public ones.

import { domainToASCII } from 'node:url';
import { parse } from 'tldts';

const MAX_NAME = 253;
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export type DomainCheck = { ok: true; domain: string } | { ok: false; problem: string };

/** Lower-case ASCII (punycode) form without trailing dot, or undefined when not a host name. */
export function normaliseHostName(input: string): string | undefined {
  const trimmed = input.trim().replace(/\.$/, '');
  if (trimmed === '') return undefined;
  const ascii = domainToASCII(trimmed);
  if (ascii === '' || ascii.length > MAX_NAME) return undefined;
  const labels = ascii.split('.');
  if (labels.length < 2 || !labels.every((l) => LABEL.test(l))) return undefined;
  return ascii;
}

export function checkApexDomain(
  input: string,
  privateSuffixes: readonly string[] = [],
): DomainCheck {
  const domain = normaliseHostName(input) ?? privateSingleLabelParent(input, privateSuffixes);
  if (domain === undefined) return { ok: false, problem: `"${input}" is not a valid domain name` };
  const own = ownSuffixOf(domain, privateSuffixes);
  if (own !== undefined) {
    if (own === domain) {
      return { ok: false, problem: `"${domain}" is a public suffix, not a registrable domain` };
    }
    const apex = domain
      .split('.')
      .slice(-(own.split('.').length + 1))
      .join('.');
    if (apex !== domain) {
      return {
        ok: false,
        problem: `use the registrable domain "${apex}", not the subdomain "${domain}"`,
      };
    }
    return { ok: true, domain };
  }
  const parsed = parse(domain, { allowPrivateDomains: true });
  if (parsed.isIp) return { ok: false, problem: 'an IP address is not a domain' };
  if (!parsed.isIcann && !parsed.isPrivate) {
    return { ok: false, problem: `"${parsed.publicSuffix}" is not a known public suffix` };
  }
  if (parsed.domain === null)
    return { ok: false, problem: `"${domain}" is a public suffix, not a registrable domain` };
  if (parsed.domain !== domain) {
    return {
      ok: false,
      problem: `use the registrable domain "${parsed.domain}", not the subdomain "${domain}"`,
    };
  }
  return { ok: true, domain };
}

/** The longest of the operator's suffixes that `domain` is, or ends with. */
function ownSuffixOf(domain: string, suffixes: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const suffix of suffixes) {
    if (
      (domain === suffix || domain.endsWith(`.${suffix}`)) &&
      suffix.length > (best?.length ?? -1)
    ) {
      best = suffix;
    }
  }
  return best;
}

/**
 * A single-label private suffix itself (`internal`) fails normaliseHostName, which wants two
 * labels; it is still a name, and the answer must say it is a suffix, not "not a name".
 */
function privateSingleLabelParent(input: string, suffixes: readonly string[]): string | undefined {
  const name = input.trim().toLowerCase().replace(/\.$/, '');
  return suffixes.includes(name) ? name : undefined;
}
