// The test certificates themselves: they must mean the same under the real clock (OpenSSL
// during the handshake) and under the injected test clock (our checks), whatever today is.

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import { isValidAt } from '../../src/security/certificates.ts';
import { makeCa, makeLeaf } from './certs.ts';
import { TEST_EPOCH } from './test-clock.ts';

const HOUR = 3_600_000;

test('a valid test certificate is valid now and at the test epoch, days later too', async () => {
  const ca = await makeCa('Clock Test Root');
  const leaf = await makeLeaf({ names: ['mx.clock.test'], issuer: ca });
  for (const cert of [ca, leaf].map((c) => new X509Certificate(c.der))) {
    for (const at of [Date.now(), TEST_EPOCH, TEST_EPOCH + 80 * HOUR, Date.now() + 80 * HOUR]) {
      assert.ok(isValidAt(cert, new Date(at)), `${cert.subject} at ${new Date(at).toISOString()}`);
    }
  }
});

test('an expired test certificate is expired now and at the test epoch', async () => {
  const leaf = new X509Certificate(
    (await makeLeaf({ names: ['old.clock.test'], expired: true })).der,
  );
  assert.ok(!isValidAt(leaf, new Date()));
  assert.ok(!isValidAt(leaf, new Date(TEST_EPOCH)));
});
