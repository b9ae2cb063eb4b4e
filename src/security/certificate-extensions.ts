// What the DANE-TA and name checks need from a certificate that Node's X509Certificate does
// not give reliably: basicConstraints with its pathLen, the keyUsage bits, the SAN dNSName
// entries and the subject CNs as they are encoded, and whether the certificate is
// self-issued. Node exposes `ca` but no keyUsage and no pathLen, and its `subjectAltName`
// and `subject` are display strings that need splitting and unescaping. The DER is read here
// with @peculiar/asn1-x509 (a maintained RFC 5280 schema, MIT) rather than a hand-written
// parser, and only here, so there is one place that interprets certificate bytes.
import type { X509Certificate } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  type AttributeValue,
  BasicConstraints,
  Certificate,
  type GeneralSubtrees,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_certificatePolicies,
  id_ce_extKeyUsage,
  id_ce_inhibitAnyPolicy,
  id_ce_keyUsage,
  id_ce_nameConstraints,
  id_ce_policyConstraints,
  id_ce_policyMappings,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
  KeyUsage,
  NameConstraints,
  SubjectAlternativeName,
} from '@peculiar/asn1-x509';

/**
 * Extensions whose meaning a DANE-TA chain check either applies (basicConstraints, keyUsage,
 * subjectAltName, nameConstraints) or may ignore without accepting a name it should not (key
 * identifiers, policies: no policy is required of mail servers, extKeyUsage: RFC 7672 asks
 * for none). Any other extension marked critical makes the certificate unusable (RFC 5280
 * 4.2): a verifier that skips it could accept what its issuer meant to forbid.
 */
const UNDERSTOOD_EXTENSIONS = new Set([
  id_ce_basicConstraints,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  id_ce_nameConstraints,
  id_ce_authorityKeyIdentifier,
  id_ce_subjectKeyIdentifier,
  id_ce_extKeyUsage,
  id_ce_certificatePolicies,
  id_ce_policyConstraints,
  id_ce_policyMappings,
  id_ce_inhibitAnyPolicy,
]);

/** dNSName subtrees of a nameConstraints extension (RFC 5280 4.2.1.10), lower case. */
export interface DnsNameConstraints {
  permitted: string[];
  excluded: string[];
}

export interface CertificateFacts {
  /** Absent: no basicConstraints extension (then the certificate is not a CA, RFC 5280 4.2.1.9). */
  basicConstraints?: { ca: boolean; pathLength?: number };
  /** Absent: no keyUsage extension (then RFC 5280 4.2.1.3 puts no limit on the key's use). */
  keyUsage?: { keyCertSign: boolean };
  /** SAN dNSName entries, as encoded. */
  dnsNames: string[];
  /** Subject commonName values, as encoded. */
  commonNames: string[];
  /**
   * Issuer and subject names are the same DER (RFC 5280 6.1: self-issued certificates do
   * not count against pathLen). Byte equality is stricter than RFC 5280's name matching:
   * a differently encoded equal name counts, which only ever makes a path shorter to allow.
   */
  selfIssued: boolean;
  /** Absent: no nameConstraints, or none on DNS names. */
  nameConstraints?: DnsNameConstraints;
  /** The OID of a critical extension this module does not understand, if any. */
  unknownCritical?: string;
}

export type FactsResult = { ok: true; facts: CertificateFacts } | { ok: false; detail: string };

const COMMON_NAME = '2.5.4.3';

// Reading one certificate takes about 0.45 ms once warm (measured on the test certificates,
// on a loaded 2-core machine): about 1.5 ms for a DANE-TA chain of three, per connection.
// A chain is asked about several times (DANE-TA, names, session reuse), so it is read once.
const cache = new WeakMap<X509Certificate, FactsResult>();
// And once per certificate, not per connection: every new connection to a host brings new
// X509Certificate objects of the same bytes (a worker opens hundreds to one provider). The
// facts of the same DER are the same, so they are kept by the DER's SHA-256 for a while.
// Measured (bench, 200 connections opened at once to one host): reading the leaf was about
// 15 % of the CPU of opening them.
const byDigest = new Map<string, FactsResult>();
const BY_DIGEST_MAX = 1024;

/** Never throws: a certificate this cannot read is reported so callers can refuse it. */
export function certificateFacts(cert: X509Certificate): FactsResult {
  let result = cache.get(cert);
  if (result === undefined) {
    const digest = cert.fingerprint256;
    result = byDigest.get(digest);
    if (result === undefined) {
      result = read(cert);
      if (byDigest.size >= BY_DIGEST_MAX) byDigest.clear();
      byDigest.set(digest, result);
    }
    cache.set(cert, result);
  }
  return result;
}

function read(cert: X509Certificate): FactsResult {
  try {
    const tbs = AsnConvert.parse(cert.raw, Certificate).tbsCertificate;
    const facts: CertificateFacts = {
      dnsNames: [],
      commonNames: [],
      selfIssued: Buffer.from(AsnConvert.serialize(tbs.issuer)).equals(
        Buffer.from(AsnConvert.serialize(tbs.subject)),
      ),
    };
    const seen = new Set<string>();
    for (const extension of tbs.extensions ?? []) {
      // RFC 5280 4.2: a certificate must not include more than one instance of an extension;
      // two basicConstraints could be read differently by different verifiers.
      if (seen.has(extension.extnID)) {
        return { ok: false, detail: `extension ${extension.extnID} appears twice` };
      }
      seen.add(extension.extnID);
      if (extension.critical && !UNDERSTOOD_EXTENSIONS.has(extension.extnID)) {
        facts.unknownCritical ??= extension.extnID;
      }
      switch (extension.extnID) {
        case id_ce_nameConstraints: {
          const value = AsnConvert.parse(extension.extnValue, NameConstraints);
          const permitted = dnsSubtrees(value.permittedSubtrees);
          const excluded = dnsSubtrees(value.excludedSubtrees);
          if (permitted.length > 0 || excluded.length > 0) {
            facts.nameConstraints = { permitted, excluded };
          }
          break;
        }
        case id_ce_basicConstraints: {
          const value = AsnConvert.parse(extension.extnValue, BasicConstraints);
          facts.basicConstraints =
            value.pathLenConstraint === undefined
              ? { ca: value.cA }
              : { ca: value.cA, pathLength: value.pathLenConstraint };
          break;
        }
        case id_ce_keyUsage: {
          const value = AsnConvert.parse(extension.extnValue, KeyUsage);
          facts.keyUsage = { keyCertSign: value.toJSON().includes('keyCertSign') };
          break;
        }
        case id_ce_subjectAltName: {
          const value = AsnConvert.parse(extension.extnValue, SubjectAlternativeName);
          for (const name of value)
            if (name.dNSName !== undefined) facts.dnsNames.push(name.dNSName);
          break;
        }
      }
    }
    for (const rdn of tbs.subject) {
      for (const attribute of rdn) {
        if (attribute.type !== COMMON_NAME) continue;
        const text = directoryText(attribute.value);
        // A CN in an encoding we do not read is kept as a name that matches nothing.
        facts.commonNames.push(text ?? '');
      }
    }
    return { ok: true, facts };
  } catch (error) {
    return {
      ok: false,
      detail: `the certificate could not be read (${error instanceof Error ? error.message : String(error)})`,
    };
  }
}

function dnsSubtrees(subtrees: GeneralSubtrees | undefined): string[] {
  const names: string[] = [];
  for (const subtree of subtrees ?? []) {
    if (subtree.base.dNSName !== undefined) names.push(subtree.base.dNSName.toLowerCase());
  }
  return names;
}

/** The string forms a CN can take; an ANY value (unknown encoding) gives undefined. */
function directoryText(value: AttributeValue): string | undefined {
  return (
    value.utf8String ??
    value.printableString ??
    value.ia5String ??
    value.teletexString ??
    value.bmpString ??
    value.universalString
  );
}
