import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { inspectMessage, toCrlf } from '../../src/messages/mime.ts';

const good = [
  'From: Shop <news@shop.nl>',
  'To: a@example.org',
  'Bcc: secret@example.org,',
  '  other-secret@example.org',
  'Subject: Hello',
  'Date: Sat, 28 Nov 2026 12:00:00 +0100',
  'Message-ID: <abc.123@shop.nl>',
  'BCC: third@example.org',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'Body line',
  'Bcc: this is body text, not a header',
  '',
].join('\r\n');

describe('MIME inspection', () => {
  test('reads From, Date and Message-ID and removes every Bcc field, folded lines included', () => {
    const result = inspectMessage(Buffer.from(good));
    assert.ok(result.ok);
    assert.deepEqual(result.headers.from, { address: 'news@shop.nl', domain: 'shop.nl' });
    assert.equal(result.headers.messageId, 'abc.123@shop.nl');
    assert.equal(result.headers.subject, 'Hello');
    const text = result.message.toString();
    assert.doesNotMatch(text, /secret@|third@/);
    assert.doesNotMatch(text.split('\r\n\r\n')[0]!, /^bcc:/im);
    assert.match(text, /^Subject: Hello\r\n/m);
    assert.match(text, /\r\n\r\nBody line\r\nBcc: this is body text/, 'the body is untouched');
  });

  test('LF line endings become CRLF', () => {
    const result = inspectMessage(Buffer.from(good.replace(/\r\n/g, '\n')));
    assert.ok(result.ok);
    assert.equal(
      result.message.toString().split('\r\n').length,
      result.message.toString().split('\n').length,
    );
    assert.equal(toCrlf(Buffer.from('a\r\nb')).toString(), 'a\r\nb');
  });

  test('UTF-8 in the header block is read as UTF-8; bare CR and LF become CRLF around it', () => {
    const utf8 = good
      .replace('Subject: Hello', 'Subject: Grüße, “quoted” 🙂')
      .replace('From: Shop <news@shop.nl>', 'From: Café Noël <news@shop.nl>');
    for (const input of [utf8, utf8.replace(/\r\n/g, '\n'), utf8.replace(/\r\n/g, '\r')]) {
      const result = inspectMessage(Buffer.from(input, 'utf8'));
      assert.ok(result.ok);
      assert.equal(result.headers.subject, 'Grüße, “quoted” 🙂');
      assert.deepEqual(result.headers.from, { address: 'news@shop.nl', domain: 'shop.nl' });
      const text = result.message.toString('utf8');
      assert.doesNotMatch(text, /secret@|third@/);
      assert.match(text, /^From: Café Noël <news@shop.nl>\r\nTo: a@example.org\r\nSubject: Grüße/);
      assert.match(text, /\r\n\r\nBody line\r\nBcc: this is body text/);
    }
  });

  test('a message without Bcc is kept byte for byte', () => {
    const plain = good
      .replace(/Bcc: secret@example.org,\r\n {2}other-secret@example.org\r\n/, '')
      .replace(/BCC: third@example.org\r\n/, '');
    const result = inspectMessage(Buffer.from(plain));
    assert.ok(result.ok);
    assert.equal(result.message.toString(), plain);
  });

  test('refuses what is not a usable message, saying why', () => {
    const without = (name: string) => good.replace(new RegExp(`^${name}:.*\\r\\n`, 'im'), '');
    const cases: Array<[string, RegExp]> = [
      [without('Message-ID'), /Message-ID header is missing/],
      [without('Date'), /Date header is missing/],
      [without('From'), /From header is missing/],
      [good.replace('Date: Sat, 28 Nov 2026 12:00:00 +0100', 'Date: someday'), /not a valid date/],
      [good.replace('<abc.123@shop.nl>', 'abc'), /Message-ID header "abc"/],
      [good.replace('From: Shop <news@shop.nl>', 'From: a@x.nl, b@y.nl'), /exactly one address/],
      [
        good.replace('Date: Sat', 'Date: Sat, 28 Nov 2026 12:00:00 +0100\r\nDate: Sat'),
        /2 Date headers/,
      ],
      ['just some text without headers\r\n\r\nbody', /not a header field/],
      [` From: x@y.nl\r\n\r\n`, /continuation line/],
      [good.replace('Body line', 'x'.repeat(1200)), /longer than 998/],
    ];
    for (const [text, problem] of cases) {
      const result = inspectMessage(Buffer.from(text));
      assert.equal(result.ok, false, String(problem));
      if (!result.ok) assert.match(result.problem, problem);
    }
  });
});
