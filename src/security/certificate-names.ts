// The one rule for "does this certificate name this host?", used by DANE-TA, PKIX, MTA-STS,
// session reuse, the MTA-STS policy fetch over HTTPS and webhook deliveries. Node's X509Certificate.checkHost
// and tls.checkServerIdentity accept partial wildcards (`m*.victim.example` matched
// `mx.victim.example` in an attack), so neither is used for a decision anywhere.
//
// The rule (RFC 6125 6.4 as RFC 7672 3.2.3 and RFC 8461 4.1 apply it to mail):
// - the reference host and each presented name compare label by label, ASCII
//   case-insensitively, a trailing dot ignored; a U-label (non-ASCII) never matches, names
//   in certificates and from DNS are A-labels (`xn--`);
// - a wildcard is a left-most label that is exactly `*`; it stands for exactly one
//   non-empty label. `m*`, `*x`, `f*o`, `xn--*`, `*` in any other label, or two `*` are
//   not wildcards, and such a name matches nothing (not even literally);
// - the part after `*.` must have at least two labels and must not itself be a public
//   suffix of the ICANN section of the Public Suffix List (tldts): `*`, `*.com`, `*.co.uk`
//   never match. Node rejects `*.com` too but would accept `*.co.uk`; no CA may issue
//   either, so refusing them costs nothing and closes the gap. Private-section suffixes
//   (`*.github.io`) are real single-owner domains and stay accepted;
// - SAN dNSName entries are the names when there is at least one; the subject CN is used
//   only when there is none (RFC 6125 6.4.4, RFC 7672 3.2.3), with the same rule, and only
//   where the standard allows it: DANE-TA and PKIX. MTA-STS requires a SAN DNS-ID
//   (RFC 8461 4.2), and the Web PKI for the policy host puts every name in the SAN;
// - a reference that is an IP address matches no DNS name.
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { type PeerCertificate, checkServerIdentity as tlsCheckServerIdentity } from 'node:tls';
import { getPublicSuffix } from 'tldts';
import type { AuthMethod } from '../vocabulary/policy-levels.ts';
import { certificateFacts } from './certificate-extensions.ts';

/** Letters, digits, hyphen; underscore too, since it is seen in real host names and harmless. */
const LABEL = /^[a-z0-9_-]+$/;

/** Lower case, without one trailing dot, split into labels; undefined if not a DNS name. */
function labelsOf(name: string): string[] | undefined {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  // toLowerCase on non-ASCII could fold a Unicode letter into ASCII (K, Kelvin sign):
  // anything outside printable ASCII is refused before lower-casing.
  if (trimmed === '' || !/^[\x21-\x7e]+$/.test(trimmed)) return undefined;
  return trimmed.toLowerCase().split('.');
}

/** Whether one presented DNS identifier (a SAN dNSName or a CN) names `host`. */
export function dnsNameMatches(presented: string, host: string): boolean {
  if (isIP(host.replace(/\.$/, '')) !== 0) return false;
  const reference = labelsOf(host);
  const pattern = labelsOf(presented);
  if (!reference || !pattern) return false;
  if (!reference.every((label) => LABEL.test(label))) return false;
  const [first, ...rest] = pattern;
  if (first === undefined || !rest.every((label) => LABEL.test(label))) return false;
  if (first !== '*') {
    return (
      LABEL.test(first) &&
      pattern.length === reference.length &&
      pattern.join('.') === reference.join('.')
    );
  }
  // `*.` + rest: exactly one more label in the host, the rest equal.
  if (rest.length < 2 || reference.length !== rest.length + 1) return false;
  const parent = rest.join('.');
  if (reference.slice(1).join('.') !== parent) return false;
  return getPublicSuffix(parent, { allowPrivateDomains: false }) !== parent;
}

/**
 * Where names are taken from: `san-or-cn` falls back to the subject CN when the certificate
 * has no SAN dNSName (DANE-TA, PKIX); `san-only` never does (MTA-STS, the policy host).
 */
export type NameSources = 'san-or-cn' | 'san-only';

/** MTA-STS requires a SAN DNS-ID (RFC 8461 4.2); DANE-TA (RFC 7672 3.2.3) and PKIX fall back. */
export function nameSourcesFor(method: AuthMethod): NameSources {
  return method === 'mta-sts' ? 'san-only' : 'san-or-cn';
}

/** The names a certificate presents for host matching (none when it cannot be read). */
export function presentedNames(cert: X509Certificate, sources: NameSources): string[] {
  const read = certificateFacts(cert);
  if (!read.ok) return [];
  const { dnsNames, commonNames } = read.facts;
  if (dnsNames.length > 0 || sources === 'san-only') return dnsNames;
  return commonNames;
}

/** Whether the certificate names `host` under the rule above. */
export function certificateNamesHost(
  cert: X509Certificate,
  host: string,
  sources: NameSources,
): boolean {
  return presentedNames(cert, sources).some((name) => dnsNameMatches(name, host));
}

/**
 * The host-name half of Web PKI validation over HTTPS (the MTA-STS policy host, webhook
 * receivers), as a `checkServerIdentity` for tls/https: the rule above, names from the SAN
 * only (the Web PKI puts every name there), instead of tls.checkServerIdentity, which accepts
 * partial wildcards such as `mta-*.example`. Node calls it only after the chain verified, so
 * chain verification stays the gate. The error code is Node's own for a name mismatch.
 * An IP address as the host is left to Node's check of IP SANs (webhook URLs may name one).
 */
export function checkWebPkiHostName(host: string, peer: PeerCertificate): Error | undefined {
  if (isIP(host) !== 0) return tlsCheckServerIdentity(host, peer);
  const cert = new X509Certificate(peer.raw);
  if (certificateNamesHost(cert, host, 'san-only')) return undefined;
  const error: NodeJS.ErrnoException = new Error(
    `the certificate does not name ${host} (it names ${presentedNames(cert, 'san-only').join(', ') || 'nothing usable'})`,
  );
  error.code = 'ERR_TLS_CERT_ALTNAME_INVALID';
  return error;
}
