// Encryption at rest with the master key: AES-256-GCM, for DKIM private keys, webhook
// secrets, message bodies and the other content listed in sealed-content.ts. A sealed box is
//
//   version (1 byte) | IV (12 bytes) | ciphertext | GCM tag (16 bytes)
//
// The key is derived from the master key per purpose (HKDF), so a DKIM key and a message body
// are never encrypted under the same AES key. The caller's `context` (e.g. the row it belongs
// to) is authenticated as AAD together with the version byte: a sealed value copied into
// another row, or into another purpose, does not open.

import {
  createCipheriv,
  createDecipheriv,
  createSecretKey,
  hkdfSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto';

export const SEALED_BOX_VERSION = 1;
const IV_LENGTH = 12;
const TAG_LENGTH = 16;
const KEY_LENGTH = 32;
const HEADER_LENGTH = 1 + IV_LENGTH;

/** What a sealed box protects; each purpose has its own derived key. */
export type SealPurpose =
  | 'dkim-private-key'
  | 'message-body'
  | 'webhook-secret'
  | 'message-subject'
  | 'notice-subject'
  | 'notice-body'
  | 'inbound-message';

export class SealedBoxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SealedBoxError';
  }
}

// Derived keys are cached per master key and purpose, as KeyObjects: HKDF on every call
// plus a Buffer key (which Node converts, throwing and catching a TypeError inside) made a
// 2 KB seal cost 28.9 us and an open 26.7 us; with the cached KeyObject 4-5 us each.
// The cache is keyed by the master key Buffer and checked against a copy of its bytes, so
// a Buffer changed in place never opens with a stale key.
const derivedKeys = new WeakMap<
  Buffer,
  { master: Buffer; byPurpose: Map<SealPurpose, KeyObject> }
>();

function derivedKey(masterKey: Buffer, purpose: SealPurpose): KeyObject {
  if (masterKey.length !== KEY_LENGTH) throw new SealedBoxError('the master key must be 32 bytes');
  let entry = derivedKeys.get(masterKey);
  if (entry === undefined || !entry.master.equals(masterKey)) {
    entry = { master: Buffer.from(masterKey), byPurpose: new Map() };
    derivedKeys.set(masterKey, entry);
  }
  let key = entry.byPurpose.get(purpose);
  if (key === undefined) {
    key = createSecretKey(
      Buffer.from(
        hkdfSync(
          'sha256',
          masterKey,
          Buffer.alloc(0),
          `securemail sealed-box v1 ${purpose}`,
          KEY_LENGTH,
        ),
      ),
    );
    entry.byPurpose.set(purpose, key);
  }
  return key;
}

function aad(version: number, purpose: SealPurpose, context: string): Buffer {
  return Buffer.concat([Buffer.from([version]), Buffer.from(`${purpose}\0${context}`, 'utf8')]);
}

export function seal(
  masterKey: Buffer,
  purpose: SealPurpose,
  context: string,
  plaintext: Buffer | string,
): Buffer {
  const iv = randomBytes(IV_LENGTH);
  const cipher = createCipheriv('aes-256-gcm', derivedKey(masterKey, purpose), iv, {
    authTagLength: TAG_LENGTH,
  });
  cipher.setAAD(aad(SEALED_BOX_VERSION, purpose, context));
  const input = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
  // Written into its final place slice by slice: one copy of the input's size, where
  // update() of the whole input and two concats made three (a 25 MB message is sealed at
  // submission with its JSON text and parsed copy still in memory).
  const out = Buffer.allocUnsafe(HEADER_LENGTH + input.length + TAG_LENGTH);
  out[0] = SEALED_BOX_VERSION;
  iv.copy(out, 1);
  let at = HEADER_LENGTH;
  at += cipherInto(cipher, input, out, at);
  at += cipher.final().copy(out, at);
  cipher.getAuthTag().copy(out, at);
  return out;
}

/** Bytes handed to a cipher at once by seal() and open() (see there). */
const CIPHER_SLICE = 1024 * 1024;

/** Runs `input` through `cipher` a slice at a time into `out` from `at`; returns the bytes written. */
function cipherInto(
  cipher: { update(data: Buffer): Buffer },
  input: Buffer,
  out: Buffer,
  at: number,
): number {
  let written = 0;
  for (let from = 0; from < input.length; from += CIPHER_SLICE) {
    written += cipher.update(input.subarray(from, from + CIPHER_SLICE)).copy(out, at + written);
  }
  return written;
}

/** Throws `SealedBoxError` for an unknown version, a wrong key, a wrong context or tampering. */
export function open(
  masterKey: Buffer,
  purpose: SealPurpose,
  context: string,
  sealed: Buffer,
): Buffer {
  if (sealed.length < HEADER_LENGTH + TAG_LENGTH) throw new SealedBoxError('sealed box too short');
  const version = sealed[0]!;
  if (version !== SEALED_BOX_VERSION) {
    throw new SealedBoxError(`sealed box version ${version} is not supported`);
  }
  const iv = sealed.subarray(1, HEADER_LENGTH);
  const tag = sealed.subarray(sealed.length - TAG_LENGTH);
  const body = sealed.subarray(HEADER_LENGTH, sealed.length - TAG_LENGTH);
  const decipher = createDecipheriv('aes-256-gcm', derivedKey(masterKey, purpose), iv, {
    authTagLength: TAG_LENGTH,
  });
  decipher.setAAD(aad(version, purpose, context));
  decipher.setAuthTag(tag);
  try {
    // AES-GCM output is as long as its input: one buffer, filled a slice at a time.
    const out = Buffer.allocUnsafe(body.length);
    const written = cipherInto(decipher, body, out, 0);
    decipher.final().copy(out, written);
    return out;
  } catch {
    throw new SealedBoxError(
      'sealed box does not open: wrong master key, wrong context, or the data was changed',
    );
  }
}

/** `seal` as base64 text, for text columns that work the same in SQLite and PostgreSQL. */
export function sealToText(
  masterKey: Buffer,
  purpose: SealPurpose,
  context: string,
  plaintext: Buffer | string,
): string {
  return seal(masterKey, purpose, context, plaintext).toString('base64');
}

export function openText(
  masterKey: Buffer,
  purpose: SealPurpose,
  context: string,
  sealed: string,
): Buffer {
  return open(masterKey, purpose, context, Buffer.from(sealed, 'base64'));
}
