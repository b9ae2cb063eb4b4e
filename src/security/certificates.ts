// What the server presented, summarised for evidence, and the PKIX judgement (Web PKI roots
// plus the operator's extra CAs, expiry, host name).
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import type { ReasonCode } from '../vocabulary/reasons.ts';
import { certificateNamesHost, nameSourcesFor, presentedNames } from './certificate-names.ts';

export interface CertificateSummary {
  sha256: string;
  subject: string;
  issuer: string;
  validFrom: string;
  validTo: string;
  /** DNS names from the subjectAltName extension. */
  dnsNames: string[];
  serialNumber: string;
}

export function summarise(cert: X509Certificate): CertificateSummary {
  return {
    sha256: cert.fingerprint256.replaceAll(':', '').toLowerCase(),
    subject: cert.subject.replaceAll('\n', ', '),
    issuer: cert.issuer.replaceAll('\n', ', '),
    validFrom: new Date(cert.validFrom).toISOString(),
    validTo: new Date(cert.validTo).toISOString(),
    dnsNames: dnsNames(cert),
    serialNumber: cert.serialNumber,
  };
}

function dnsNames(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(', ')
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice(4));
}

/**
 * The chain as Node reports it, leaf first. Node completes it from the trust store when the
 * server omits the root; every link is still checked by signature where it matters (DANE-TA).
 */
export function peerChain(socket: tls.TLSSocket): X509Certificate[] {
  const chain: X509Certificate[] = [];
  const seen = new Set<string>();
  let current: tls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  while (current?.raw && chain.length < MAX_CHAIN_LENGTH) {
    const fingerprint = current.fingerprint256;
    if (seen.has(fingerprint)) break;
    seen.add(fingerprint);
    chain.push(new X509Certificate(current.raw));
    current = current.issuerCertificate;
  }
  return chain;
}

/** Longer chains than this are not seen in practice and are not followed. */
const MAX_CHAIN_LENGTH = 10;

export function isValidAt(cert: X509Certificate, now: Date): boolean {
  const time = now.getTime();
  return new Date(cert.validFrom).getTime() <= time && time <= new Date(cert.validTo).getTime();
}

export type PkixResult = { ok: true } | { ok: false; reason: ReasonCode; detail: string };

// OpenSSL verification codes (as Node's `authorizationError` gives them) that mean the chain
// does not lead to a trusted root.
const UNTRUSTED_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
]);

/**
 * PKIX: the chain OpenSSL built against the CA list we gave the connection (Web PKI roots
 * plus extra CAs), the leaf's validity at `now`, and the host name. The connection was made
 * with `rejectUnauthorized: false`, so this function is where the decision is taken.
 * `method` is what the result authenticates: `mta-sts` needs the name in the SAN.
 */
export function judgePkix(
  socket: tls.TLSSocket,
  host: string,
  now: Date,
  method: 'pkix' | 'mta-sts',
): PkixResult {
  const leaf = socket.getPeerX509Certificate();
  if (!leaf) return { ok: false, reason: 'validation-failure', detail: 'no certificate presented' };
  if (!isValidAt(leaf, now)) {
    return { ok: false, reason: 'certificate-expired', detail: `valid until ${leaf.validTo}` };
  }
  if (!socket.authorized) {
    const code = String(socket.authorizationError ?? 'unknown');
    if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
      return { ok: false, reason: 'certificate-expired', detail: code };
    }
    const reason = UNTRUSTED_CODES.has(code) ? 'certificate-not-trusted' : 'validation-failure';
    return { ok: false, reason, detail: code };
  }
  // Not X509Certificate.checkHost: it accepts partial wildcards (certificate-names.ts).
  const sources = nameSourcesFor(method);
  if (!certificateNamesHost(leaf, host, sources)) {
    return {
      ok: false,
      reason: 'certificate-host-mismatch',
      detail: `${host} is not among the certificate names ${presentedNames(leaf, sources).join(', ') || '(none)'}`,
    };
  }
  return { ok: true };
}

/** The CA list for PKIX: the Web PKI roots Node ships plus the operator's PEM certificates. */
export function trustedCas(extraCa: readonly string[]): string[] {
  return [...tls.rootCertificates, ...extraCa];
}
