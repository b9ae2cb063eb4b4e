import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import {
  open,
  openText,
  SEALED_BOX_VERSION,
  SealedBoxError,
  seal,
  sealToText,
} from '../../src/secrets/sealed-box.ts';

const key = randomBytes(32);

test('a sealed box opens with the same key, purpose and context', () => {
  const sealed = seal(key, 'dkim-private-key', 'row-1', 'secret PEM');
  assert.equal(sealed[0], SEALED_BOX_VERSION);
  assert.equal(sealed.length, 1 + 12 + 'secret PEM'.length + 16);
  assert.ok(!sealed.includes(Buffer.from('secret')));
  assert.equal(open(key, 'dkim-private-key', 'row-1', sealed).toString(), 'secret PEM');
  const text = sealToText(key, 'message-body', 'm1', Buffer.from([0, 1, 2]));
  assert.deepEqual([...openText(key, 'message-body', 'm1', text)], [0, 1, 2]);
});

test('every seal uses a fresh IV', () => {
  assert.notDeepEqual(
    seal(key, 'message-body', 'x', 'same'),
    seal(key, 'message-body', 'x', 'same'),
  );
});

test('wrong key, context, purpose, version or a changed byte do not open', () => {
  const sealed = seal(key, 'dkim-private-key', 'row-1', 'secret');
  const fails = (fn: () => unknown) => assert.throws(fn, SealedBoxError);
  fails(() => open(randomBytes(32), 'dkim-private-key', 'row-1', sealed));
  fails(() => open(key, 'dkim-private-key', 'row-2', sealed));
  fails(() => open(key, 'message-body', 'row-1', sealed));
  const flipped = Buffer.from(sealed);
  flipped[20]! ^= 1;
  fails(() => open(key, 'dkim-private-key', 'row-1', flipped));
  const otherVersion = Buffer.from(sealed);
  otherVersion[0] = 2;
  assert.throws(
    () => open(key, 'dkim-private-key', 'row-1', otherVersion),
    /version 2 is not supported/,
  );
  fails(() => open(key, 'dkim-private-key', 'row-1', sealed.subarray(0, 20)));
  assert.throws(() => seal(randomBytes(16), 'message-body', 'x', 'y'), /32 bytes/);
});
