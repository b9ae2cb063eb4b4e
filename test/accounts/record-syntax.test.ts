import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  compareDkim,
  compareSpf,
  isDmarcRecord,
  isSpfRecord,
  parseTagList,
  readDmarc,
} from '../../src/accounts/record-syntax.ts';

const expected = 'v=spf1 include:spf.platform.test ip4:192.0.2.1 ~all';

test('SPF records are recognised by their version term only', () => {
  assert.ok(isSpfRecord('v=spf1 -all'));
  assert.ok(isSpfRecord('V=SPF1'));
  assert.ok(!isSpfRecord('v=spf10 -all'));
  assert.ok(!isSpfRecord('spf2.0/pra -all'));
});

test('SPF: order, case, qualifiers and /32 do not matter; missing terms and bad all do', () => {
  assert.deepEqual(
    compareSpf('v=spf1 IP4:192.0.2.1/32 +include:spf.platform.test -all', expected),
    { match: true },
  );
  assert.deepEqual(compareSpf('v=spf1 include:spf.platform.test mx ip4:192.0.2.1 ~all', expected), {
    match: true,
  });
  assert.deepEqual(compareSpf('v=spf1 include:spf.platform.test ~all', expected), {
    match: false,
    problem: 'it lacks ip4:192.0.2.1',
  });
  assert.equal(
    compareSpf('v=spf1 include:spf.platform.test ip4:192.0.2.1 +all', expected).match,
    false,
  );
  assert.equal(compareSpf('v=spf1 include:spf.platform.test ip4:192.0.2.1', expected).match, false);
  assert.deepEqual(compareSpf('v=spf1 include:spf.platform.test ~all ip4:192.0.2.1', expected), {
    match: false,
    problem: 'ip4:192.0.2.1 comes after "all" and is ignored',
  });
  assert.deepEqual(compareSpf('v=spf1 include:spf.platform.test ip4:192.0.2.1 ~all a', expected), {
    match: false,
    problem: 'a comes after "all" and is ignored',
  });
  assert.equal(
    compareSpf('v=spf1 include:spf.platform.test ip4:192.0.2.1 redirect=_spf.example.com', expected)
      .match,
    true,
  );
});

test('tag lists: whitespace and order ignored, duplicates refused', () => {
  const parsed = parseTagList(' v = DKIM1 ;k=rsa;  p=AB CD ; ');
  assert.ok(parsed.ok);
  assert.deepEqual(
    [...parsed.tags],
    [
      ['v', 'DKIM1'],
      ['k', 'rsa'],
      ['p', 'AB CD'],
    ],
  );
  assert.deepEqual(parseTagList('p=a; p=b'), { ok: false, problem: 'the tag p= appears twice' });
});

test('DKIM: whitespace inside p=, default k=rsa, revoked and truncated keys', () => {
  const key = { algorithm: 'rsa', publicKey: 'MIIBIjANBgkq' };
  assert.deepEqual(compareDkim('p=MIIB IjAN\tBgkq', key), { match: true });
  assert.deepEqual(compareDkim('v=DKIM2; p=MIIBIjANBgkq', key), {
    match: false,
    problem: 'v=DKIM2 where v=DKIM1 is required',
  });
  assert.deepEqual(compareDkim('v=DKIM1; k=rsa; p=', key), {
    match: false,
    problem: 'the key is revoked (empty p=)',
  });
  assert.match((compareDkim('p=MIIBIj', key) as { problem: string }).problem, /cut off: 6 of 12/);
  assert.deepEqual(compareDkim('k=rsa; p=OTHER', key), {
    match: false,
    problem: 'p= holds a different public key',
  });
});

test('DMARC: version first, a valid policy', () => {
  assert.ok(isDmarcRecord('v=DMARC1; p=none'));
  assert.ok(!isDmarcRecord('p=none; v=DMARC1'));
  const reading = readDmarc('v=DMARC1;p=Reject;rua=mailto:x@example.com');
  assert.ok(reading.ok);
  assert.equal(reading.policy, 'reject');
  assert.deepEqual(readDmarc('v=DMARC1; rua=mailto:x@example.com'), {
    ok: false,
    problem: 'it has no p= (policy) tag',
  });
});
