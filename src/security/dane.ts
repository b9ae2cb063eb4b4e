// DANE for SMTP (RFC 7672, RFC 7671): matching the presented certificates against TLSA.
import { createHash, type X509Certificate } from 'node:crypto';
import type { TlsaRecord } from '../dns/types.ts';
import type { ReasonCode } from '../vocabulary/reasons.ts';
import { certificateFacts, type DnsNameConstraints } from './certificate-extensions.ts';
import { certificateNamesHost, nameSourcesFor, presentedNames } from './certificate-names.ts';
import { isValidAt } from './certificates.ts';

export const TLSA_USAGE_DANE_TA = 2;
export const TLSA_USAGE_DANE_EE = 3;
const SELECTOR_FULL_CERT = 0;
const SELECTOR_SPKI = 1;
const MATCHING_EXACT = 0;
const MATCHING_SHA256 = 1;
const MATCHING_SHA512 = 2;

/** Octets of the data of each matching type; undefined: any non-empty length (a DER value). */
const DATA_LENGTH: Readonly<Record<number, number | undefined>> = {
  [MATCHING_EXACT]: undefined,
  [MATCHING_SHA256]: 32,
  [MATCHING_SHA512]: 64,
};

/**
 * Usages 0/1 (PKIX-TA/EE) are unusable for SMTP (RFC 7672 3.1.3); unknown parameters too,
 * and so is a record whose data cannot be what its matching type says (a SHA-256 digest
 * that is not 32 octets, empty data): it can match no certificate, so like an unknown
 * parameter it is malformed, unusable (RFC 7672 2.2), rather than a record the server
 * fails (Postfix ignores such records the same way). Only usable records make DANE apply; without any, the host is judged as if it had
 * none (MTA-STS or PKIX, still authenticated; `dane-only` refuses).
 */
export function isUsable(record: TlsaRecord): boolean {
  if (record.usage !== TLSA_USAGE_DANE_TA && record.usage !== TLSA_USAGE_DANE_EE) return false;
  if (record.selector !== SELECTOR_FULL_CERT && record.selector !== SELECTOR_SPKI) return false;
  if (!(record.matchingType in DATA_LENGTH)) return false;
  const length = DATA_LENGTH[record.matchingType];
  return length === undefined ? record.data.length > 0 : record.data.length === length;
}

/** `3 1 1 ab12...` presentation form, for evidence. */
export function describeTlsa(record: TlsaRecord): string {
  return `${record.usage} ${record.selector} ${record.matchingType} ${record.data.toString('hex')}`;
}

/**
 * The DER public key of `cert`, or undefined when Node cannot decode it (an unknown key
 * algorithm, broken parameters). The chain is the peer's to choose, and OpenSSL does not
 * decode the keys of certificates it does not verify: reading such a key throws, which must
 * make that certificate match nothing rather than end the whole assessment.
 */
function spkiOf(cert: X509Certificate): Buffer | undefined {
  try {
    return cert.publicKey.export({ type: 'spki', format: 'der' });
  } catch {
    return undefined;
  }
}

/** Whether `child` names `parent` as issuer and carries its signature; false when unreadable. */
function signedBy(child: X509Certificate, parent: X509Certificate): boolean {
  try {
    return child.checkIssued(parent) && child.verify(parent.publicKey);
  } catch {
    return false;
  }
}

export function tlsaMatches(record: TlsaRecord, cert: X509Certificate): boolean {
  const selected = record.selector === SELECTOR_SPKI ? spkiOf(cert) : cert.raw;
  if (selected === undefined) return false;
  let digest: Buffer;
  switch (record.matchingType) {
    case MATCHING_EXACT:
      digest = selected;
      break;
    case MATCHING_SHA256:
      digest = createHash('sha256').update(selected).digest();
      break;
    case MATCHING_SHA512:
      digest = createHash('sha512').update(selected).digest();
      break;
    default:
      return false;
  }
  return digest.equals(record.data);
}

/**
 * The names a DANE-TA certificate may have (RFC 7672 3.2.2): the TLSA base domain, the MX
 * host name (the alias, when the base is its expanded name) and the recipient domain.
 */
export function daneNames(input: {
  tlsaBase?: string;
  mxHost: string;
  recipientDomain: string;
}): string[] {
  return [...new Set([input.tlsaBase ?? input.mxHost, input.mxHost, input.recipientDomain])];
}

export type DaneResult =
  | { ok: true; usage: number; matched: string; detail: string }
  | { ok: false; reason: ReasonCode; detail: string };

/**
 * Checks the chain (leaf first) against the usable TLSA records.
 * - DANE-EE(3): the leaf matches; no name or expiry checks (RFC 7672 3.1.1).
 * - DANE-TA(2): a certificate above the leaf matches, every link down to the leaf is
 *   signed by the one above, the leaf and intermediates are within their validity, every
 *   certificate from the anchor down to the leaf's issuer is a CA allowed to sign
 *   certificates at that depth and for the leaf's names (nameConstraints), no certificate
 *   has a critical extension we do not understand, and the leaf names the TLSA base, the MX
 *   host or the recipient domain
 *   (RFC 7672 3.1.2, 3.2.2, 3.2.3). The trust anchor's own validity is not checked: the
 *   TLSA record is what makes it trusted.
 */
export function verifyDane(
  records: readonly TlsaRecord[],
  chain: readonly X509Certificate[],
  names: readonly string[],
  now: Date,
): DaneResult {
  const leaf = chain[0];
  if (!leaf) return { ok: false, reason: 'validation-failure', detail: 'no certificate presented' };
  const usable = records.filter(isUsable);
  for (const record of usable) {
    if (record.usage === TLSA_USAGE_DANE_EE && tlsaMatches(record, leaf)) {
      return {
        ok: true,
        usage: record.usage,
        matched: describeTlsa(record),
        detail: 'DANE-EE match',
      };
    }
  }
  let taFailure: DaneResult | undefined;
  for (const record of usable) {
    if (record.usage !== TLSA_USAGE_DANE_TA) continue;
    for (let anchor = 1; anchor < chain.length; anchor++) {
      if (!tlsaMatches(record, chain[anchor]!)) continue;
      const result = checkBelowAnchor(chain.slice(0, anchor + 1), names, now);
      if (result === undefined) {
        return {
          ok: true,
          usage: record.usage,
          matched: describeTlsa(record),
          detail: 'DANE-TA match',
        };
      }
      taFailure ??= result;
    }
  }
  return (
    taFailure ?? {
      ok: false,
      reason: 'tlsa-invalid',
      detail: `the certificate chain matches none of ${usable.length} usable TLSA records`,
    }
  );
}

/** Whether `name` lies in `base` (RFC 5280 4.2.1.10): itself or below; `.base` only below. */
function inSubtree(name: string, base: string): boolean {
  const host = name.toLowerCase().replace(/\.$/, '');
  const tree = base.replace(/\.$/, '');
  if (tree === '') return true;
  if (tree.startsWith('.')) return host.endsWith(tree);
  return host === tree || host.endsWith(`.${tree}`);
}

function withinConstraints(name: string, constraints: DnsNameConstraints): boolean {
  if (constraints.excluded.some((base) => inSubtree(name, base))) return false;
  return (
    constraints.permitted.length === 0 ||
    constraints.permitted.some((base) => inSubtree(name, base))
  );
}

/** undefined when the path from the anchor (last) to the leaf (first) is acceptable. */
function checkBelowAnchor(
  path: readonly X509Certificate[],
  names: readonly string[],
  now: Date,
): DaneResult | undefined {
  // Before the signatures, so the detail names the real fault: checkIssued (OpenSSL's
  // X509_check_issued) also refuses an issuer whose keyUsage lacks keyCertSign, which would
  // read as a broken signature.
  const authority = authorityFailure(path);
  if (authority !== undefined) {
    // tlsa-invalid, not validation-failure: as with a broken signature below, the TLSA
    // RRset then authenticates no chain the server presented, which is what TLS-RPT's
    // tlsa-invalid reports (validation-failure is its catch-all), and the recipient's fix
    // is the same: serve a chain that really leads to the published anchor. The detail
    // names the certificate at fault.
    return { ok: false, reason: 'tlsa-invalid', detail: authority };
  }
  for (let i = 0; i < path.length - 1; i++) {
    const child = path[i]!;
    const parent = path[i + 1]!;
    if (!signedBy(child, parent)) {
      return {
        ok: false,
        reason: 'tlsa-invalid',
        detail: `certificate ${i} is not signed by the DANE-TA trust anchor chain`,
      };
    }
    if (!isValidAt(child, now)) {
      return {
        ok: false,
        reason: 'certificate-expired',
        detail: `certificate ${i} is not valid now`,
      };
    }
  }
  const leaf = path[0]!;
  const sources = nameSourcesFor('dane');
  if (!names.some((name) => certificateNamesHost(leaf, name, sources))) {
    return {
      ok: false,
      reason: 'certificate-host-mismatch',
      detail: `the certificate names none of ${names.join(', ')} (it names ${
        presentedNames(leaf, sources).join(', ') || 'nothing usable'
      })`,
    };
  }
  return undefined;
}

/**
 * Whether each certificate above the leaf, the trust anchor included, may have signed the
 * one below it (RFC 5280 6.1.4 (k) to (n)). Signatures alone are not enough: an ordinary
 * server certificate under the anchor (CA:FALSE) signs a leaf for any name just as well,
 * and that chain was accepted in an attack. A DANE-TA trust anchor is a CA too (RFC 7671
 * 5.2), so its own constraints count, pathLen included. Returns what is wrong, or undefined.
 */
function authorityFailure(path: readonly X509Certificate[]): string | undefined {
  const leaf = path[0]!;
  const leafFacts = certificateFacts(leaf);
  if (!leafFacts.ok) return `certificate 0: ${leafFacts.detail}`;
  if (leafFacts.facts.unknownCritical !== undefined) {
    return `certificate 0 has a critical extension that is not understood (${leafFacts.facts.unknownCritical})`;
  }
  const leafNames = presentedNames(leaf, nameSourcesFor('dane'));
  // Non-self-issued certificates between the one looked at and the leaf (RFC 5280 6.1.4 (l)).
  let intermediatesBelow = 0;
  for (let i = 1; i < path.length; i++) {
    const cert = path[i]!;
    const which = `certificate ${i} (${cert.subject.replaceAll('\n', ', ')})`;
    const read = certificateFacts(cert);
    if (!read.ok) return `${which}: ${read.detail}`;
    const { basicConstraints, keyUsage, selfIssued, nameConstraints, unknownCritical } = read.facts;
    if (unknownCritical !== undefined) {
      return `${which} has a critical extension that is not understood (${unknownCritical})`;
    }
    // RFC 5280 6.1.4 (g), 6.1.3 (b)(c): a CA limited to some DNS names (a "technically
    // constrained" sub-CA of another organisation under the anchor) signs no other names.
    // OpenSSL applies this in PKIX; this DANE-TA path does its own checks, so here too.
    const outside =
      nameConstraints === undefined
        ? undefined
        : leafNames.find((name) => !withinConstraints(name, nameConstraints));
    if (outside !== undefined) {
      return `${which} may not sign for ${outside} (nameConstraints)`;
    }
    if (basicConstraints === undefined) return `${which} is not a CA (no basicConstraints)`;
    if (!basicConstraints.ca) return `${which} is not a CA (basicConstraints CA:FALSE)`;
    if (keyUsage !== undefined && !keyUsage.keyCertSign) {
      return `${which} may not sign certificates (keyUsage without keyCertSign)`;
    }
    const limit = basicConstraints.pathLength;
    if (limit !== undefined && intermediatesBelow > limit) {
      return `${which} allows ${limit} intermediate CAs below it, the chain has ${intermediatesBelow}`;
    }
    if (!selfIssued) intermediatesBelow++;
  }
  return undefined;
}
