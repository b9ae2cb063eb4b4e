// A self-signed certificate for STARTTLS when the operator configured none. Sending MTAs
// use opportunistic TLS towards a bounce MX and rarely check certificates, so even this
// keeps bounces (which quote recipients' addresses) off the wire in clear text. It is made
// per process with a fresh P-256 key; only the DER encoding is done by hand, as Node can
// sign but has no certificate builder.

import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';

const VALIDITY_MS = 365 * 24 * 3600 * 1000;
const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const OID_COMMON_NAME = '2.5.4.3';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';
// UTCTime covers 1950-2049 (RFC 5280 4.1.2.5); GeneralizedTime after that.
const UTC_TIME_LAST_YEAR = 2049;

export interface SelfSignedCertificate {
  certPem: string;
  keyPem: string;
}

export function makeSelfSignedCertificate(
  hostname: string,
  now: number = Date.now(),
  /** Random by default; `integer` makes any value a minimal, positive DER INTEGER. */
  serial: Buffer = randomBytes(16),
): SelfSignedCertificate {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const algorithm = sequence(oid(OID_ECDSA_WITH_SHA256));
  const name = sequence(set(sequence(oid(OID_COMMON_NAME), tlv(0x0c, Buffer.from(hostname)))));
  const san = sequence(tlv(0x82, Buffer.from(hostname, 'ascii')));
  const tbs = sequence(
    tlv(0xa0, integer(Buffer.from([2]))), // v3
    integer(serial),
    algorithm,
    name,
    sequence(time(new Date(now - 60_000)), time(new Date(now + VALIDITY_MS))),
    name,
    spki,
    tlv(0xa3, sequence(sequence(oid(OID_SUBJECT_ALT_NAME), tlv(0x04, san)))),
  );
  const signature = sign('sha256', tbs, privateKey);
  const cert = sequence(tbs, algorithm, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
  return {
    certPem: pem('CERTIFICATE', cert),
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

function pem(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let rest = n; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), length(content.length), content]);
}

function sequence(...parts: Buffer[]): Buffer {
  return tlv(0x30, Buffer.concat(parts));
}

function set(...parts: Buffer[]): Buffer {
  return tlv(0x31, Buffer.concat(parts));
}

/**
 * A non-negative INTEGER in DER: no redundant leading zero octets, and one zero octet in front
 * when the first remaining octet has its high bit set (else it would read as negative).
 * OpenSSL refuses a non-minimal encoding ("illegal padding"); with a random serial whose first
 * octet happened to be 0x00, one start-up in 256 failed that way.
 */
function integer(value: Buffer): Buffer {
  if (value.length === 0) return tlv(0x02, Buffer.from([0]));
  let start = 0;
  while (start < value.length - 1 && value[start] === 0) start++;
  const minimal = value.subarray(start);
  const content = minimal[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), minimal]) : minimal;
  return tlv(0x02, content);
}

function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const bytes = [40 * arcs[0]! + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const chunk = [arc & 0x7f];
    for (let rest = arc >>> 7; rest > 0; rest >>>= 7) chunk.unshift((rest & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return tlv(0x06, Buffer.from(bytes));
}

function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/[-:T]/g, '').slice(0, 14); // YYYYMMDDHHMMSS
  return date.getUTCFullYear() <= UTC_TIME_LAST_YEAR
    ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`))
    : tlv(0x18, Buffer.from(`${iso}Z`));
}
