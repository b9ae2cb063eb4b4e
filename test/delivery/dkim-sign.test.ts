// Our DKIM signer (src/delivery/dkim-sign.ts) checked by an independent verifier, mailauth's
// dkimVerify, on the message shapes where canonicalization goes wrong: folded headers,
// trailing whitespace, an empty body, a body without its final CRLF, 8-bit UTF-8 headers.

import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, test } from 'node:test';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { prepareSigningKeys, relaxedBody, signMessage } from '../../src/delivery/dkim-sign.ts';

const DOMAIN = 'shop.example';
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ed = generateKeyPairSync('ed25519');

function publicValue(key: KeyObject, algorithm: 'rsa' | 'ed25519'): string {
  const spki = key.export({ format: 'der', type: 'spki' });
  return (algorithm === 'rsa' ? spki : spki.subarray(12)).toString('base64');
}

const records = new Map<string, string>([
  [`rsa1._domainkey.${DOMAIN}`, `v=DKIM1; k=rsa; p=${publicValue(rsa.publicKey, 'rsa')}`],
  [`ed1._domainkey.${DOMAIN}`, `v=DKIM1; k=ed25519; p=${publicValue(ed.publicKey, 'ed25519')}`],
]);

async function resolver(name: string, type: string): Promise<string[][]> {
  const value = type === 'TXT' ? records.get(name) : undefined;
  if (value === undefined) {
    const error = new Error(`no ${type} for ${name}`) as Error & { code: string };
    error.code = 'ENOTFOUND';
    throw error;
  }
  return [[value]];
}

const keys = prepareSigningKeys([
  {
    domain: DOMAIN,
    selector: 'rsa1',
    privateKey: rsa.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  },
  {
    domain: DOMAIN,
    selector: 'ed1',
    privateKey: ed.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  },
]);

async function assertValid(message: Buffer): Promise<string> {
  const signed = signMessage(message, keys, Date.UTC(2026, 10, 28));
  const verdict = await dkimVerify(signed, { resolver });
  assert.equal(verdict.results.length, 2, JSON.stringify(verdict.results));
  const algorithms = verdict.results.map((r) => r.algo).sort();
  assert.deepEqual(algorithms, ['ed25519-sha256', 'rsa-sha256']);
  for (const r of verdict.results) {
    assert.equal(r.status.result, 'pass', JSON.stringify(r.status));
    assert.equal(r.signingDomain, DOMAIN);
  }
  return signed.toString('latin1');
}

const crlf = (lines: string[]) => lines.join('\r\n');

describe('DKIM signer (verified by mailauth)', () => {
  test('plain message; From over-signed, only present headers listed', async () => {
    const text = await assertValid(
      Buffer.from(
        crlf([
          'From: Shop <news@shop.example>',
          'To: a@b.example',
          'Subject: Hello',
          'Date: Sat, 28 Nov 2026 12:00:00 +0000',
          'Message-ID: <1@shop.example>',
          'MIME-Version: 1.0',
          'Content-Type: text/plain; charset=utf-8',
          'List-Unsubscribe: <https://shop.example/u>',
          'X-Other: not signed',
          '',
          'Hi there.',
          '',
        ]),
      ),
    );
    const h = /[; ]h=([^;]+);/.exec(text.replace(/\r\n /g, ''))?.[1];
    assert.equal(
      h,
      'from:from:subject:date:message-id:to:mime-version:content-type:list-unsubscribe',
    );
  });

  test('folded headers and trailing whitespace in headers and body', async () => {
    await assertValid(
      Buffer.from(
        crlf([
          'From:   Shop\t <news@shop.example>  ',
          'To: a@b.example,\r\n\tc@d.example, \r\n   e@f.example',
          'Subject: A very long subject line that is folded\r\n  over two lines   ',
          'Content-Type : text/plain;\r\n charset="utf-8"',
          '',
          'Line with trailing spaces   ',
          'Tabs\t\tinside  and  spaces',
          '  leading kept',
          '',
          '',
          '',
        ]),
      ),
    );
  });

  test('empty body and a message with no body at all', async () => {
    await assertValid(Buffer.from('From: news@shop.example\r\nSubject: empty\r\n\r\n'));
    await assertValid(Buffer.from('From: news@shop.example\r\nSubject: none\r\n'));
    assert.equal(relaxedBody(''), '');
    assert.equal(relaxedBody('\r\n\r\n'), '');
  });

  test('body without a final CRLF', async () => {
    await assertValid(
      Buffer.from('From: news@shop.example\r\nSubject: x\r\n\r\nno newline at the end  '),
    );
    assert.equal(relaxedBody('a  b \t'), 'a b\r\n');
  });

  test('relaxed body: the no-rewrite shortcut agrees with the full rules', () => {
    // RFC 6376 3.4.4 spelled out step by step, as the reference.
    const reference = (body: string) => {
      let text = body.replace(/[ \t]+/g, ' ').replace(/ \r\n/g, '\r\n');
      if (text.endsWith(' ')) text = text.slice(0, -1);
      text = text.replace(/(?:\r\n)+$/, '');
      return text === '' ? '' : `${text}\r\n`;
    };
    const pieces = ['a', 'bc', ' ', '  ', '\t', '\r\n', ' \r\n', '\r\n\r\n', 'x y'];
    let seed = 11;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    for (let i = 0; i < 3000; i++) {
      let body = '';
      const length = Math.floor(random() * 10);
      for (let j = 0; j < length; j++) body += pieces[Math.floor(random() * pieces.length)];
      assert.equal(relaxedBody(body), reference(body), JSON.stringify(body));
    }
  });

  test('8-bit UTF-8 header values and body', async () => {
    await assertValid(
      Buffer.from(
        crlf([
          'From: Bäckerei Müller <news@shop.example>',
          'To: Zoë <zoe@b.example>',
          'Subject: Grüße aus Köln — 日本語',
          'Content-Type: text/plain; charset=utf-8',
          'Content-Transfer-Encoding: 8bit',
          '',
          'Schöne Grüße',
          '',
        ]),
        'utf8',
      ),
    );
  });

  test('bare LF line ends are signed as the CRLF the SMTP client sends', async () => {
    const signed = signMessage(
      Buffer.from('From: news@shop.example\nSubject: lf\n\nline one \nline two\n'),
      keys,
      Date.now(),
    );
    assert.doesNotMatch(signed.toString('latin1'), /[^\r]\n/);
    await assertValid(Buffer.from('From: news@shop.example\nSubject: lf\n\nline one \nline two\n'));
  });

  test('repeated headers are signed bottom-up', async () => {
    await assertValid(
      Buffer.from(
        crlf([
          'From: news@shop.example',
          'Cc: one@b.example',
          'Subject: s',
          'Cc: two@b.example',
          'Reply-To: r@shop.example',
          '',
          'body',
          '',
        ]),
      ),
    );
  });
});
