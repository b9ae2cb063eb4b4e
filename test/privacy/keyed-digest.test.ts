// The keyed digest an erasure leaves on the suppression list: the same for any case of the
// address, different per account (no link between two accounts' lists) and per master key
// (no test of a guessed address without the key), and never the address itself.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { addressDigest, DIGEST_PREFIX } from '../../src/secrets/keyed-digest.ts';

test('a keyed digest ignores case, and differs per account and per master key', () => {
  const key = randomBytes(32);
  const digest = addressDigest(key, 'account-1', 'Jan@Example.nl');
  assert.ok(digest.startsWith(DIGEST_PREFIX));
  assert.match(digest.slice(DIGEST_PREFIX.length), /^[0-9a-f]{64}$/);
  assert.ok(!digest.toLowerCase().includes('jan'));
  assert.equal(addressDigest(key, 'account-1', 'jan@example.nl'), digest);
  assert.notEqual(addressDigest(key, 'account-2', 'jan@example.nl'), digest);
  assert.notEqual(addressDigest(randomBytes(32), 'account-1', 'jan@example.nl'), digest);
  // A key changed in place is not served from the cache.
  const changing = Buffer.from(key);
  const before = addressDigest(changing, 'account-1', 'jan@example.nl');
  changing[0] = (changing[0]! + 1) % 256;
  assert.notEqual(addressDigest(changing, 'account-1', 'jan@example.nl'), before);
});
