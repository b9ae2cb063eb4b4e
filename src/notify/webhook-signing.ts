// Signing of webhook deliveries. The signature is HMAC-SHA256 with the endpoint's secret
// over `<timestamp>.<body>`, sent as
//
//   SecureMail-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>]
//
// One `v1` per valid secret: during a rotation's overlap both the new and the previous
// secret sign, so a receiver can switch secrets without missing a delivery. The timestamp
// is signed too, so a receiver can refuse old (replayed) deliveries.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'securemail-signature';
const SECRET_PREFIX = 'whsec_';
const SECRET_BYTES = 32;
/** What receivers are told to accept between our clock and theirs. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

export function newWebhookSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(SECRET_BYTES).toString('base64url')}`;
}

function hmac(secret: string, timestamp: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

/** The header value for a body sent at `timestamp` (Unix seconds), signed with each secret. */
export function signatureHeader(
  secrets: readonly string[],
  timestamp: number,
  body: string,
): string {
  return [`t=${timestamp}`, ...secrets.map((s) => `v1=${hmac(s, timestamp, body)}`)].join(',');
}

/**
 * What a receiver does: true when one of the header's `v1` signatures is the body's under
 * `secret` and the timestamp is within the tolerance of `nowSeconds`.
 */
export function verifySignature(
  header: string,
  body: string,
  secret: string,
  nowSeconds: number,
  toleranceSeconds = DEFAULT_TOLERANCE_SECONDS,
): boolean {
  const parts = header.split(',').map((p) => p.trim());
  const timestamp = Number(parts.find((p) => p.startsWith('t='))?.slice(2));
  if (!Number.isInteger(timestamp) || Math.abs(nowSeconds - timestamp) > toleranceSeconds) {
    return false;
  }
  const expected = Buffer.from(hmac(secret, timestamp, body), 'hex');
  return parts
    .filter((p) => p.startsWith('v1='))
    .some((p) => {
      const given = Buffer.from(p.slice(3), 'hex');
      return given.length === expected.length && timingSafeEqual(given, expected);
    });
}
