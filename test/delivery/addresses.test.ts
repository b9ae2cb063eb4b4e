// Addresses beyond the plain dot-atom, end to end: a quoted local part reaches the server
// exactly as RFC 5321 writes it (quotes and backslash escapes in MAIL FROM/RCPT TO), and an
// internationalised one (RFC 6531) goes out only with SMTPUTF8 to a server that offers it
// after STARTTLS; elsewhere it fails at once with smtputf8-not-supported.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { dialects, type TestStore } from '../support/db.ts';
import type { TestSmtpServer } from '../support/smtp-server.ts';
import { mime, SENDER_DOMAIN, startWorld, type World } from './support.ts';

for (const dialect of dialects()) {
  describe(`quoted and internationalised addresses (${dialect.name})`, () => {
    let store: TestStore;
    let w: World;
    let utf8Mx: TestSmtpServer;
    let asciiMx: TestSmtpServer;
    let clearUtf8Mx: TestSmtpServer;

    before(async () => {
      store = await dialect.open();
      w = await startWorld(store);
      utf8Mx = await w.addMx('example.org', '127.0.0.2', { smtpUtf8: true });
      asciiMx = await w.addMx('plain.example', '127.0.0.3');
      clearUtf8Mx = await w.addMx('cleartext-utf8.example', '127.0.0.4', {
        smtpUtf8: 'before-tls',
      });
    });
    after(async () => {
      await w.close();
      await store.close();
    });

    test('each address reaches the server exactly, or fails with a clear reason', async () => {
      const submitted = await w.submit({
        sender: `news@${SENDER_DOMAIN}`,
        recipients: [
          '"john doe"@example.org',
          '"john\\"doe"@Example.ORG',
          '"jan"@example.org',
          'jöhn@example.org',
          'jöhn@plain.example',
          'jan@plain.example',
          'jöhn@cleartext-utf8.example',
        ],
        message: mime({ From: `"News desk"@${SENDER_DOMAIN}` }),
      });
      assert.equal(submitted.statusCode, 202, submitted.body);
      assert.deepEqual(
        submitted.json().recipients.map((r: { address: string }) => r.address),
        [
          '"john doe"@example.org',
          '"john\\"doe"@example.org',
          'jan@example.org',
          'jöhn@example.org',
          'jöhn@plain.example',
          'jan@plain.example',
          'jöhn@cleartext-utf8.example',
        ],
      );
      await w.drain();

      const status = await w.app.inject({
        method: 'GET',
        url: `/message/${submitted.json().id}`,
        headers: w.tenant.auth,
      });
      const outcome = Object.fromEntries(
        status
          .json()
          .recipients.map((r: { address: string; status: string; reason: string | null }) => [
            r.address,
            `${r.status}${r.reason === null ? '' : ` ${r.reason}`}`,
          ]),
      );
      assert.deepEqual(outcome, {
        '"john doe"@example.org': 'delivered',
        '"john\\"doe"@example.org': 'delivered',
        'jan@example.org': 'delivered',
        'jöhn@example.org': 'delivered',
        'jöhn@plain.example': 'failed smtputf8-not-supported',
        'jan@plain.example': 'delivered',
        'jöhn@cleartext-utf8.example': 'failed smtputf8-not-supported',
      });

      // The quoted forms went out as RFC 5321 writes them, and arrived as exactly that.
      assert.ok(utf8Mx.commands.includes('tls: RCPT TO:<"john doe"@example.org>'));
      assert.ok(utf8Mx.commands.includes('tls: RCPT TO:<"john\\"doe"@example.org>'));
      assert.ok(utf8Mx.commands.includes('tls: RCPT TO:<jöhn@example.org>'));
      assert.deepEqual(utf8Mx.messages.map((m) => m.to).sort(), [
        ['"john doe"@example.org'],
        ['"john\\"doe"@example.org'],
        ['jan@example.org'],
        ['jöhn@example.org'],
      ]);
      // SMTPUTF8 only on the transaction that needs it.
      const mails = utf8Mx.commands.filter((c) => c.startsWith('tls: MAIL FROM'));
      assert.equal(mails.length, 4);
      assert.equal(mails.filter((c) => / SMTPUTF8( |$)/.test(c)).length, 1);
      // Servers without SMTPUTF8 after TLS never saw the address.
      for (const server of [asciiMx, clearUtf8Mx])
        assert.ok(!server.commands.some((c) => c.includes('jöhn')), server.commands.join('\n'));
      assert.deepEqual(
        asciiMx.messages.map((m) => m.to),
        [['jan@plain.example']],
      );
      const failed = status
        .json()
        .recipients.find((r: { address: string }) => r.address === 'jöhn@plain.example');
      assert.match(failed.detail, /does not offer SMTPUTF8/);
    });
  });
}
