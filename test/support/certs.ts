// Certificates made at test time: a private CA, intermediates, leaves with SANs, expired,
// self-signed and wrong-name certificates, and the broken issuers of attacks on DANE-TA
// (a signer that is not a CA, a CA without keyCertSign, a pathLen the chain exceeds). EC P-256 keys by default because they take
// milliseconds to generate; RSA only where a test needs static-RSA cipher suites.
import { webcrypto } from 'node:crypto';
// @peculiar/x509 depends on tsyringe, which needs the Reflect metadata API: imported first.
import 'reflect-metadata';
import { AsnConvert } from '@peculiar/asn1-schema';
import { GeneralName, GeneralSubtree, GeneralSubtrees, NameConstraints } from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';
import { TEST_EPOCH } from './test-clock.ts';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export type KeyKind = 'ec' | 'rsa';

export interface TestCert {
  /** PEM of this certificate alone. */
  pem: string;
  /** DER of this certificate. */
  der: Buffer;
  /** PKCS#8 PEM of the private key. */
  keyPem: string;
  /** DER of the SubjectPublicKeyInfo (what TLSA selector 1 hashes). */
  spki: Buffer;
  cert: x509.X509Certificate;
  keys: webcrypto.CryptoKeyPair;
  keyKind: KeyKind;
}

const DAY_MS = 86_400_000;

/**
 * The earliest and latest moment a test may ask about: the real time and the injected
 * clocks' epoch. Valid certificates cover both (with room for tests that move their clock
 * forward by days); expired ones ended before either.
 */
function clockSpan(): { earliest: number; latest: number } {
  const real = Date.now();
  return { earliest: Math.min(real, TEST_EPOCH), latest: Math.max(real, TEST_EPOCH) };
}

const EC_PARAMS = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const RSA_PARAMS = {
  name: 'RSASSA-PKCS1-v1_5',
  modulusLength: 2048,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash: 'SHA-256',
} as const;

async function generateKeys(kind: KeyKind): Promise<webcrypto.CryptoKeyPair> {
  const params = kind === 'ec' ? EC_PARAMS : RSA_PARAMS;
  return (await webcrypto.subtle.generateKey(params, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
}

function signingAlgorithm(kind: KeyKind): webcrypto.Algorithm | webcrypto.EcdsaParams {
  return kind === 'ec' ? { name: 'ECDSA', hash: 'SHA-256' } : { name: 'RSASSA-PKCS1-v1_5' };
}

async function finish(
  cert: x509.X509Certificate,
  keys: webcrypto.CryptoKeyPair,
  keyKind: KeyKind,
): Promise<TestCert> {
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const spki = Buffer.from(await webcrypto.subtle.exportKey('spki', keys.publicKey));
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '')}\n-----END PRIVATE KEY-----\n`;
  return {
    pem: `${cert.toString('pem')}\n`,
    der: Buffer.from(cert.rawData),
    keyPem,
    spki,
    cert,
    keys,
    keyKind,
  };
}

export interface CaOptions {
  /** Signs this CA (an intermediate); omitted for a self-signed root. */
  issuer?: TestCert;
  keyKind?: KeyKind;
  /**
   * basicConstraints cA (default true); false makes an ordinary certificate that signs anyway,
   * null one without the extension at all.
   */
  ca?: boolean | null;
  /** basicConstraints pathLenConstraint; omitted: no limit. */
  pathLength?: number;
  /**
   * keyUsage flags (x509.KeyUsageFlags); default keyCertSign, cRLSign and digitalSignature.
   * null leaves the extension out, as on many ordinary server certificates.
   */
  keyUsage?: number | null;
  /** More extensions, as given (see `extension`, `permitOnlyDnsNames`). */
  extensions?: x509.Extension[];
}

/** An extension with the given OID, criticality and DER value (for one nobody knows). */
export function extension(oid: string, critical: boolean, value: Uint8Array): x509.Extension {
  return new x509.Extension(oid, critical, value);
}

/** A critical nameConstraints extension that permits only the given DNS names (and below). */
export function permitOnlyDnsNames(...names: string[]): x509.Extension {
  const value = new NameConstraints({
    permittedSubtrees: new GeneralSubtrees(
      names.map((dNSName) => new GeneralSubtree({ base: new GeneralName({ dNSName }) })),
    ),
  });
  return new x509.Extension('2.5.29.30', true, AsnConvert.serialize(value));
}

export const CA_KEY_USAGE =
  x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature;

/** A root CA (self-signed) or, with `issuer`, an intermediate CA (or, with options, a broken one). */
export async function makeCa(commonName: string, options: CaOptions = {}): Promise<TestCert> {
  const keyKind = options.keyKind ?? 'ec';
  const keys = await generateKeys(keyKind);
  const keyUsage = options.keyUsage === undefined ? CA_KEY_USAGE : options.keyUsage;
  const extensions: x509.Extension[] = [
    ...(options.ca === null
      ? []
      : [new x509.BasicConstraintsExtension(options.ca ?? true, options.pathLength, true)]),
    ...(keyUsage === null ? [] : [new x509.KeyUsagesExtension(keyUsage, true)]),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ...(options.extensions ?? []),
  ];
  const { earliest, latest } = clockSpan();
  const notBefore = new Date(earliest - 60 * DAY_MS);
  const notAfter = new Date(latest + 365 * DAY_MS);
  const issuer = options.issuer;
  if (!issuer) {
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      name: `CN=${commonName}`,
      keys,
      notBefore,
      notAfter,
      extensions,
      signingAlgorithm: signingAlgorithm(keyKind),
    });
    return finish(cert, keys, keyKind);
  }
  extensions.push(await x509.AuthorityKeyIdentifierExtension.create(issuer.cert));
  const cert = await x509.X509CertificateGenerator.create({
    subject: `CN=${commonName}`,
    issuer: issuer.cert.subject,
    publicKey: keys.publicKey,
    signingKey: issuer.keys.privateKey,
    notBefore,
    notAfter,
    extensions,
    signingAlgorithm: signingAlgorithm(issuer.keyKind),
  });
  return finish(cert, keys, keyKind);
}

export interface LeafOptions {
  /** DNS names for the SAN extension (none: no SAN extension); the first is also the subject CN. */
  names: string[];
  /** The subject CN when it should differ from the first name (or there is no name). */
  commonName?: string;
  /** Omitted: the leaf is self-signed. */
  issuer?: TestCert;
  /** Make a certificate whose validity ended the day before both the real time and the test epoch. */
  expired?: boolean;
  keyKind?: KeyKind;
}

/** A server (leaf) certificate with the given DNS names. */
export async function makeLeaf(options: LeafOptions): Promise<TestCert> {
  const keyKind = options.keyKind ?? 'ec';
  const keys = await generateKeys(keyKind);
  const { earliest, latest } = clockSpan();
  const notBefore = new Date(earliest - (options.expired ? 30 : 1) * DAY_MS);
  const notAfter = new Date(options.expired ? earliest - DAY_MS : latest + 90 * DAY_MS);
  const subject = `CN=${options.commonName ?? options.names[0] ?? 'unnamed'}`;
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(
      x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
      true,
    ),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
  ];
  if (options.names.length > 0) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension(
        options.names.map((value) => ({ type: 'dns' as const, value })),
      ),
    );
  }
  const issuer = options.issuer;
  if (!issuer) {
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      name: subject,
      keys,
      notBefore,
      notAfter,
      extensions,
      signingAlgorithm: signingAlgorithm(keyKind),
    });
    return finish(cert, keys, keyKind);
  }
  extensions.push(await x509.AuthorityKeyIdentifierExtension.create(issuer.cert));
  const cert = await x509.X509CertificateGenerator.create({
    subject,
    issuer: issuer.cert.subject,
    publicKey: keys.publicKey,
    signingKey: issuer.keys.privateKey,
    notBefore,
    notAfter,
    extensions,
    signingAlgorithm: signingAlgorithm(issuer.keyKind),
  });
  return finish(cert, keys, keyKind);
}

/** The PEM a TLS server presents: the leaf first, then the given intermediates/anchors. */
export function chainPem(leaf: TestCert, ...rest: TestCert[]): string {
  return [leaf, ...rest].map((c) => c.pem).join('');
}
