// The one address check of the API: what it accepts, in which canonical form, what it
// refuses and why, and that everything it accepts is something the SMTP client can send.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkAddress, recipientDomain } from '../../src/accounts/email-address.ts';
import { isSendablePath } from '../../src/security/smtp-client.ts';

const GOOD: Array<[input: string, canonical: string, utf8: boolean]> = [
  ['jan@example.nl', 'jan@example.nl', false],
  ['Jan.de.Vries+news@Example.NL', 'Jan.de.Vries+news@example.nl', false],
  ["o'brien!#$%&*/=?^_`{|}~-@example.nl", "o'brien!#$%&*/=?^_`{|}~-@example.nl", false],
  ['"john doe"@example.nl', '"john doe"@example.nl', false],
  ['"john\\"doe"@example.nl', '"john\\"doe"@example.nl', false],
  ['"back\\\\slash"@example.nl', '"back\\\\slash"@example.nl', false],
  ['"a@b<c>"@example.nl', '"a@b<c>"@example.nl', false],
  ['"jan"@example.nl', 'jan@example.nl', false],
  ['"j\\an"@example.nl', 'jan@example.nl', false],
  ['"a..b"@example.nl', '"a..b"@example.nl', false],
  ['jöhn@example.nl', 'jöhn@example.nl', true],
  ['用户@例子.广告', '用户@xn--fsqu00a.xn--4rr70v', true],
  ['"jöhn doe"@example.nl', '"jöhn doe"@example.nl', true],
  ['jan@exämple.nl', 'jan@xn--exmple-cua.nl', false],
  ['jan@example.nl.', 'jan@example.nl', false],
  ['क्षि\u200d@example.in', 'क्षि\u200d@example.in', true],
];

const BAD: Array<[input: string, problem: RegExp]> = [
  ['jan doe@example.nl', /space outside quotes/],
  [' jan@example.nl', /space outside quotes/],
  ['jan@example.nl ', /space outside quotes/],
  ['jan@ example.nl', /space outside quotes/],
  ['jan@example.nl\n', /U\+000A, a control character/],
  ['jan\r\n@example.nl', /U\+000D, a control character/],
  ['ja\u2028n@example.nl', /U\+2028, a line or paragraph separator/],
  ['jan@example.nl\u2029', /U\+2029, a line or paragraph separator/],
  ['jan\u0085@example.nl', /U\+0085, a control character/],
  ['"ja\u0085n"@example.nl', /U\+0085/],
  ['"ja\u0007n"@example.nl', /U\+0007/],
  ['jan\u009f@example.nl', /U\+009F/],
  ['ja\u007fn@example.nl', /U\+007F/],
  ['ja\u0000n@example.nl', /U\+0000/],
  ['ja\u00a0n@example.nl', /U\+00A0, a space other than U\+0020/],
  ['"ja\u3000n"@example.nl', /U\+3000/],
  ['ja\u200bn@example.nl', /U\+200B, an invisible formatting character/],
  ['ja\u202en@example.nl', /U\+202E/],
  ['ja\ud800n@example.nl', /U\+D800, half of a surrogate pair/],
  ['"jan@example.nl', /not an e-mail address|not closed/],
  ['"ja"n@example.nl', /after the closing quote/],
  ['ja"n@example.nl', /not a valid local part/],
  ['"ja\\ün"@example.nl', /backslash/],
  ['""@example.nl', /empty/],
  ['.jan@example.nl', /not a valid local part/],
  ['jan.@example.nl', /not a valid local part/],
  ['ja..n@example.nl', /not a valid local part/],
  ['jan@[192.0.2.1]', /literals/],
  ['jan', /not an e-mail address/],
  ['@example.nl', /not an e-mail address/],
  [`${'a'.repeat(65)}@example.nl`, /longer than 64/],
  [`"${'a b'.repeat(21)}"@example.nl`, /longer than 64/],
];

test('good addresses are accepted in their simplest form', () => {
  for (const [input, canonical, utf8] of GOOD) {
    const check = checkAddress(input);
    assert.ok(check.ok, `${JSON.stringify(input)}: ${check.ok ? '' : check.problem}`);
    assert.equal(check.address, canonical, input);
    assert.equal(check.utf8, utf8, input);
    // Canonical forms are stable.
    const again = checkAddress(check.address);
    assert.ok(again.ok && again.address === canonical, `${canonical} is canonical`);
  }
});

test('bad addresses are refused with the reason', () => {
  for (const [input, problem] of BAD) {
    const check = checkAddress(input);
    assert.equal(check.ok, false, JSON.stringify(input));
    if (!check.ok) assert.match(check.problem, problem, JSON.stringify(input));
  }
});

test('every accepted address can be written by the SMTP client, with SMTPUTF8 when utf8', () => {
  for (const [input] of GOOD) {
    const check = checkAddress(input);
    assert.ok(check.ok);
    assert.ok(isSendablePath(check.address, check.utf8), check.address);
    if (check.utf8) assert.equal(isSendablePath(check.address, false), false, check.address);
  }
  // And what the client refuses, the check refuses too.
  for (const path of ['a b@x.nl', 'a<b@x.nl', '"a"b@x.nl', 'a\r\nRCPT TO:<b@x.nl', '"a\\\n"@x.nl'])
    assert.equal(isSendablePath(path, true), false, JSON.stringify(path));
});

test('the security check takes an address or a domain, with the same character rules', () => {
  assert.deepEqual(recipientDomain('jan@Example.NL'), { ok: true, domain: 'example.nl' });
  assert.deepEqual(recipientDomain('Exämple.nl'), { ok: true, domain: 'xn--exmple-cua.nl' });
  for (const bad of ['example.nl\u2028', ' example.nl', 'exa mple.nl', 'ja n@example.nl'])
    assert.equal(recipientDomain(bad).ok, false, JSON.stringify(bad));
});
