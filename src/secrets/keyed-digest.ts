// Keyed digests of addresses (HMAC-SHA-256 with a key derived from the master key), for what
// must outlive an erasure without naming the person: a suppressed address stays suppressed
// after its owner's data was erased (src/privacy/erasure.ts), so the account still never
// mails it, yet the list no longer says who it was. Without the master key the digest cannot
// be tested against a guessed address (a plain hash could: addresses are easy to guess), and
// the account id is part of the input, so one person's digests in two accounts do not link.

import { createHmac, hkdfSync } from 'node:crypto';

/** How a stored digest is told from an address: an address cannot start with this. */
export const DIGEST_PREFIX = 'hmac-sha256:';

// Derived once per master key (submission asks for a digest per recipient); checked against
// a copy of the key's bytes, as sealed-box.ts does, so a Buffer changed in place never
// digests with a stale key.
const derived = new WeakMap<Buffer, { master: Buffer; key: Buffer }>();

function digestKey(masterKey: Buffer): Buffer {
  let entry = derived.get(masterKey);
  if (entry === undefined || !entry.master.equals(masterKey)) {
    const key = Buffer.from(
      hkdfSync('sha256', masterKey, Buffer.alloc(0), 'securemail address digest v1', 32),
    );
    entry = { master: Buffer.from(masterKey), key };
    derived.set(masterKey, entry);
  }
  return entry.key;
}

/**
 * The digest of an address in an account, as the suppression list keeps it after erasure.
 * The address is lower-cased first: suppression compares addresses without regard to case.
 */
export function addressDigest(masterKey: Buffer, accountId: string, address: string): string {
  const mac = createHmac('sha256', digestKey(masterKey))
    .update(`${accountId}\0${address.toLowerCase()}`, 'utf8')
    .digest('hex');
  return `${DIGEST_PREFIX}${mac}`;
}
