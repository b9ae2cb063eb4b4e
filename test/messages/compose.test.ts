// POST /message in parts: {sender, recipients, subject, text, html?, attachments?, headers?}
// composed by the service, delivered like raw MIME; errors name the field; raw MIME unchanged.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import { mime, SENDER_DOMAIN, startWorld, type World } from '../delivery/support.ts';
import { dialects, type TestStore } from '../support/db.ts';

for (const dialect of dialects()) {
  describe(`structured messages (${dialect.name})`, () => {
    let store: TestStore;
    let w: World;

    before(async () => {
      store = await dialect.open();
      w = await startWorld(store);
    });
    after(async () => {
      await w.close();
      await store.close();
    });

    test('subject, text, html and an attachment arrive composed, with Date and Message-ID generated', async () => {
      const mx = await w.addMx('parts.test', '127.0.0.31');
      const accepted = await w.submit({
        sender: `news@${SENDER_DOMAIN}`,
        recipients: ['jan@parts.test'],
        subject: 'Café order ✓',
        text: 'Hello Jan,\n\nyour order is on its way.\n',
        html: '<p>Hello Jan,</p><p>your order is on its way.</p>',
        attachments: [
          {
            filename: 'invoice.txt',
            content_base64: Buffer.from('invoice 42').toString('base64'),
            content_type: 'text/plain',
          },
        ],
        headers: { 'Reply-To': 'help@shop.nl', 'X-Campaign': 'november' },
      });
      assert.equal(accepted.statusCode, 202, accepted.body);
      const messageId = accepted.json().message_id as string;
      assert.match(messageId, new RegExp(`@${SENDER_DOMAIN.replace('.', '\\.')}$`));

      await w.drain();
      assert.equal(mx.messages.length, 1);
      const parsed = await simpleParser(mx.messages[0]!.data);
      assert.equal(parsed.subject, 'Café order ✓');
      assert.equal(parsed.messageId, `<${messageId}>`);
      assert.equal(parsed.date?.getTime(), w.clock.now - (w.clock.now % 1000));
      assert.equal(parsed.from?.text, `news@${SENDER_DOMAIN}`);
      assert.equal(parsed.to && !Array.isArray(parsed.to) ? parsed.to.text : '', 'jan@parts.test');
      assert.equal(parsed.replyTo?.text, 'help@shop.nl');
      assert.equal(parsed.headers.get('x-campaign'), 'november');
      assert.match(parsed.text ?? '', /your order is on its way/);
      assert.match(String(parsed.html), /<p>Hello Jan,<\/p>/);
      assert.equal(parsed.attachments.length, 1);
      assert.equal(parsed.attachments[0]!.filename, 'invoice.txt');
      assert.equal(parsed.attachments[0]!.content.toString(), 'invoice 42');
    });

    test('several recipients do not see each other unless a To is given', async () => {
      const mx = await w.addMx('many.test', '127.0.0.32');
      const accepted = await w.submit({
        sender: `news@${SENDER_DOMAIN}`,
        recipients: ['a@many.test', 'b@many.test'],
        subject: 'News',
        text: 'Hello',
      });
      assert.equal(accepted.statusCode, 202, accepted.body);
      await w.drain();
      const text = mx.messages[0]!.data.toString();
      assert.match(text, /^To: "?undisclosed-recipients"?:;/m);
      assert.doesNotMatch(text, /a@many\.test|b@many\.test/);
    });

    test('the same parts with the same Message-ID and Date are a safe retry', async () => {
      const payload = {
        sender: `news@${SENDER_DOMAIN}`,
        recipients: ['x@parts.test'],
        subject: 'Once',
        text: 'Only once',
        html: '<b>Only once</b>',
        headers: { 'Message-ID': '<retry-parts@shop.nl>', Date: 'Sat, 28 Nov 2026 12:00:00 +0000' },
      };
      const first = await w.submit(payload);
      const second = await w.submit(payload);
      assert.equal(first.statusCode, 202, first.body);
      assert.equal(second.statusCode, 202, second.body);
      assert.equal(second.headers['idempotent-replay'], 'true');
      const changed = await w.submit({ ...payload, text: 'Something else' });
      assert.equal(changed.statusCode, 409);
    });

    test('validation errors name the field', async () => {
      const base = { sender: `news@${SENDER_DOMAIN}`, recipients: ['x@parts.test'] };
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ subject: 'No text' }, 'text'],
        [{ text: 'No subject' }, 'subject'],
        [{ subject: 's', text: 't', message: mime({}) }, 'message'],
        [{ subject: 's', text: 't', headers: { Subject: 'x' } }, 'headers.Subject'],
        [{ subject: 's', text: 't', headers: { Bcc: 'x@y.test' } }, 'headers.Bcc'],
        [
          { subject: 's', text: 't', headers: { 'Content-Type': 'text/html' } },
          'headers.Content-Type',
        ],
        [{ subject: 's', text: 't', headers: { 'X-A': 'one\r\nBcc: x@y.test' } }, 'headers.X-A'],
        [{ subject: 's', text: 't', headers: { From: 'boss@other.test' } }, 'headers.From'],
        [
          { subject: 's', text: 't', headers: { 'Message-ID': 'no-brackets' } },
          'headers.Message-ID',
        ],
        [{ subject: 's', text: 't', headers: { Date: 'yesterday' } }, 'headers.Date'],
        [
          { subject: 's', text: 't', attachments: [{ filename: 'a.pdf', content_base64: '%%%' }] },
          'attachments.0.content_base64',
        ],
        [
          {
            subject: 's',
            text: 't',
            attachments: [{ filename: '../a.pdf', content_base64: 'AA==' }],
          },
          'attachments.0.filename',
        ],
        [
          {
            subject: 's',
            text: 't',
            attachments: [{ filename: 'a', content_base64: 'AA==', content_type: 'pdf' }],
          },
          'attachments.0.content_type',
        ],
        [
          { subject: 's', text: 't', attachments: [{ filename: 'a' }] },
          'attachments.0.content_base64',
        ],
        [{ subject: 5, text: 't' }, 'subject'],
      ];
      for (const [extra, field] of cases) {
        const response = await w.submit({ ...base, ...extra });
        assert.equal(response.statusCode, 400, `${field}: ${response.body}`);
        assert.equal(response.json().name, 'validation_failed');
        assert.equal(response.json().field, field, response.body);
      }
    });

    test('a From header with a display name in the sender domain is kept', async () => {
      const mx = await w.addMx('named.test', '127.0.0.33');
      const accepted = await w.submit({
        sender: `news@${SENDER_DOMAIN}`,
        recipients: ['n@named.test'],
        subject: 'Hi',
        text: 'Hello',
        headers: { From: `Shop Support <support@${SENDER_DOMAIN}>`, 'Require-TLS': 'yes' },
      });
      assert.equal(accepted.statusCode, 202, accepted.body);
      await w.drain();
      const text = mx.messages[0]?.data.toString() ?? '';
      // Require-TLS asks for REQUIRETLS, which the test MX does not offer: nothing is sent.
      assert.equal(mx.messages.length, 0, text);
      const status = await w.app.inject({
        method: 'GET',
        url: `/message/${accepted.json().id}`,
        headers: w.tenant.auth,
      });
      assert.equal(status.json().recipients[0].reason, 'requiretls-not-supported');
    });

    test('the OpenAPI document describes both ways of sending', async () => {
      const doc = (await w.app.inject({ method: 'GET', url: '/openapi.json' })).json();
      const body = doc.paths['/message'].post.requestBody.content['application/json'].schema;
      for (const field of [
        'message',
        'message_base64',
        'subject',
        'text',
        'html',
        'attachments',
        'headers',
      ]) {
        assert.ok(body.properties[field], `${field} documented`);
      }
    });
  });
}
