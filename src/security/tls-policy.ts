// TLS parameter ratings per the NCSC-NL "IT Security Guidelines for TLS" (2025), appendix B,
// as internet.nl encodes them. Ratings: good and sufficient are accepted, phase-out is
// accepted but recorded, insufficient is refused.
import type { ReasonCode } from '../vocabulary/reasons.ts';

export type Rating = 'good' | 'sufficient' | 'phase-out' | 'insufficient';

export function isAcceptable(rating: Rating): boolean {
  return rating !== 'insufficient';
}

/** Version strings as Node's `getProtocol()` reports them. */
export function rateVersion(version: string): Rating {
  switch (version) {
    case 'TLSv1.3':
      return 'good';
    case 'TLSv1.2':
      return 'sufficient';
    default:
      return 'insufficient';
  }
}

const TLS13_GOOD = new Set(['TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256']);
const TLS13_SUFFICIENT = new Set(['TLS_AES_128_GCM_SHA256', 'TLS_AES_128_CCM_SHA256']);

// Bulk ciphers of TLS 1.2 suites (IANA names, `TLS_<kx>_WITH_<bulk>`).
const AEAD_BULK = /^(AES_(128|256)_(GCM_SHA(256|384)|CCM)|CHACHA20_POLY1305_SHA256)$/;
const CBC_SHA2_BULK = /^AES_(128|256)_CBC_SHA(256|384)$/;
const CAMELLIA_ARIA_BULK = /^(CAMELLIA|ARIA)_(128|256)_(GCM|CBC)_SHA(256|384)$/;
const DHE_BULK = /^(AES_(128|256)_(GCM_SHA(256|384)|CCM|CBC_SHA(256)?)|CHACHA20_POLY1305_SHA256)$/;

/**
 * Rates a cipher suite by its IANA name (Node's `getCipher().standardName`). Anything not
 * listed, notably static RSA key exchange, 3DES, RC4 and NULL, is insufficient.
 */
export function rateCipher(standardName: string): Rating {
  if (TLS13_GOOD.has(standardName)) return 'good';
  if (TLS13_SUFFICIENT.has(standardName)) return 'sufficient';
  const match = /^TLS_([A-Z0-9_]+?)_WITH_([A-Z0-9_]+)$/.exec(standardName);
  if (!match) return 'insufficient';
  const [, keyExchange, bulk] = match as unknown as [string, string, string];
  if (keyExchange === 'ECDHE_ECDSA' || keyExchange === 'ECDHE_RSA') {
    if (AEAD_BULK.test(bulk)) return 'sufficient';
    if (CBC_SHA2_BULK.test(bulk) || CAMELLIA_ARIA_BULK.test(bulk)) return 'phase-out';
    return 'insufficient';
  }
  if (keyExchange === 'DHE_RSA' && DHE_BULK.test(bulk)) return 'phase-out';
  return 'insufficient';
}

const GOOD_GROUPS = new Set([
  'x25519',
  'x448',
  'secp256r1',
  'prime256v1',
  'secp384r1',
  // Hybrid post-quantum key exchange, which Node 24 (OpenSSL 3.5) negotiates by default.
  'x25519mlkem768',
  'secp256r1mlkem768',
  'secp384r1mlkem1024',
]);
const SUFFICIENT_GROUPS = new Set([
  'ffdhe3072',
  'ffdhe4096',
  'ffdhe6144',
  'ffdhe8192',
  'secp521r1',
]);
const PHASE_OUT_GROUPS = new Set(['ffdhe2048']);

/** Finite-field DH sizes (bits) per NCSC-NL: 3072+ sufficient, 2048 phase-out. */
const DH_SUFFICIENT_BITS = 3072;
const DH_PHASE_OUT_BITS = 2048;

export interface KeyExchangeInfo {
  type?: string;
  name?: string;
  size?: number;
}

/**
 * Rates the ephemeral key exchange (Node's `getEphemeralKeyInfo()`). An empty object means
 * no ephemeral key exchange (static RSA); the cipher rating already refuses that, so the
 * group is rated `insufficient` too.
 */
export function rateKeyExchange(info: KeyExchangeInfo): Rating {
  const name = info.name?.toLowerCase();
  if (name) {
    if (GOOD_GROUPS.has(name)) return 'good';
    if (SUFFICIENT_GROUPS.has(name)) return 'sufficient';
    if (PHASE_OUT_GROUPS.has(name)) return 'phase-out';
    return 'insufficient';
  }
  if (info.type === 'DH' && typeof info.size === 'number') {
    if (info.size >= DH_SUFFICIENT_BITS) return 'sufficient';
    if (info.size >= DH_PHASE_OUT_BITS) return 'phase-out';
  }
  return 'insufficient';
}

export interface TlsParameters {
  version: string;
  versionRating: Rating;
  cipher: string;
  cipherStandardName: string;
  cipherRating: Rating;
  keyExchange: string;
  keyExchangeRating: Rating;
}

export function rateParameters(
  version: string,
  cipher: { name: string; standardName: string },
  keyExchange: KeyExchangeInfo,
): TlsParameters {
  return {
    version,
    versionRating: rateVersion(version),
    cipher: cipher.name,
    cipherStandardName: cipher.standardName,
    cipherRating: rateCipher(cipher.standardName),
    keyExchange: describeKeyExchange(keyExchange),
    keyExchangeRating: rateKeyExchange(keyExchange),
  };
}

function describeKeyExchange(info: KeyExchangeInfo): string {
  if (info.name) return info.name;
  if (info.type === 'DH' && info.size) return `DH-${info.size}`;
  return 'none';
}

/** The first reason the parameters are refused, or undefined when all are acceptable. */
export function parameterFailure(params: TlsParameters): ReasonCode | undefined {
  if (!isAcceptable(params.versionRating)) return 'tls-version-too-low';
  if (!isAcceptable(params.cipherRating)) return 'cipher-not-acceptable';
  if (!isAcceptable(params.keyExchangeRating)) return 'key-exchange-not-acceptable';
  return undefined;
}

/** True when something negotiated is only rated phase-out (delivered, but worth recording). */
export function hasPhaseOut(params: TlsParameters): boolean {
  return [params.versionRating, params.cipherRating, params.keyExchangeRating].includes(
    'phase-out',
  );
}

/**
 * What we offer: TLS 1.2 suites rated sufficient or phase-out, in OpenSSL names. TLS 1.3
 * suites are configured separately by Node and are all acceptable except CCM_8, which
 * OpenSSL does not enable by default.
 */
export const OFFERED_TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-CCM',
  'ECDHE-ECDSA-AES128-CCM',
  'ECDHE-ECDSA-AES256-SHA384',
  'ECDHE-RSA-AES256-SHA384',
  'ECDHE-ECDSA-AES128-SHA256',
  'ECDHE-RSA-AES128-SHA256',
  'DHE-RSA-AES256-GCM-SHA384',
  'DHE-RSA-CHACHA20-POLY1305',
  'DHE-RSA-AES128-GCM-SHA256',
  'DHE-RSA-AES256-SHA256',
  'DHE-RSA-AES128-SHA256',
].join(':');

/** TLS 1.3 suites we offer (all rated good or sufficient). */
export const OFFERED_TLS13_CIPHERS = [
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_GCM_SHA256',
].join(':');

/** Key-exchange groups we offer, best first (OpenSSL names). */
export const OFFERED_GROUPS = [
  'X25519MLKEM768',
  'X25519',
  'secp256r1',
  'secp384r1',
  'ffdhe4096',
  'ffdhe3072',
].join(':');
