// Delivery to a real Postfix (3.x, Debian's package), not to our own test server: the SMTP
// client, STARTTLS, DANE-EE and PKIX, a 5 MB body, SMTPUTF8, a refused
// recipient and a listener without STARTTLS, judged by what Postfix logged and stored. The
// in-process test servers show what the client sends; this shows a widely used server takes it
// the same way. Skipped where Postfix is not installed or the tests do not run as root.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { mime, startWorld, type World } from '../delivery/support.ts';
import { requestToken } from '../support/app.ts';
import { chainPem, makeLeaf } from '../support/certs.ts';
import { dialects, type TestStore } from '../support/db.ts';
import { postfixAvailable, TestPostfix } from '../support/postfix.ts';
import { closedPort } from '../support/tcp-proxy.ts';

const unavailable = postfixAvailable();
const SECURE = '127.0.0.41';
const PLAIN = '127.0.0.42';

interface RecipientView {
  address: string;
  status: string;
  reason?: string | null;
  detail?: string | null;
  history?: Array<Record<string, unknown>>;
}

describe('delivery to a real Postfix', { skip: unavailable }, () => {
  let dir: string;
  let store: TestStore;
  let w: World;
  let postfix: TestPostfix;
  let port: number;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'securemail-postfix-'));
    port = await closedPort();
    store = await dialects()[0]!.open();
    w = await startWorld(store, {
      SECUREMAIL_SMTP_PORT: String(port),
      SECUREMAIL_SMTP_COMMAND_TIMEOUT_MS: '15000',
    });
    // Postfix checks certificates against the real clock: so does everything here.
    w.clock.now = Date.now();
    const token = await requestToken(w.app, w.tenant.clientId, w.tenant.clientSecret);
    w.tenant.auth = { authorization: `Bearer ${token}` };

    const leaf = await makeLeaf({
      names: ['mx.pkix.test', 'mx.dane.test', 'mx.danebad.test'],
      issuer: w.ca,
    });
    postfix = TestPostfix.start({
      dir,
      listeners: [
        { address: SECURE, port, tls: true },
        { address: PLAIN, port, tls: false },
      ],
      mailboxes: [
        'alice@pkix.test',
        'bob@pkix.test',
        'jörg@pkix.test',
        'carol@dane.test',
        'erin@danebad.test',
        'frank@plain.test',
      ],
      certChainPem: chainPem(leaf),
      keyPem: leaf.keyPem,
    });

    const mx = (domain: string, address: string) => {
      w.dns.set(domain, [{ type: 'MX', preference: 10, exchange: `mx.${domain}` }]);
      w.dns.set(`mx.${domain}`, [{ type: 'A', data: address }]);
    };
    mx('pkix.test', SECURE);
    mx('dane.test', SECURE);
    mx('danebad.test', SECURE);
    mx('plain.test', PLAIN);
    for (const zone of ['dane.test', 'mx.dane.test', 'danebad.test', 'mx.danebad.test']) {
      w.dns.sign(zone);
    }
    const spki = createHash('sha256').update(leaf.spki).digest();
    const tlsa = (data: Buffer) => [
      { type: 'TLSA' as const, usage: 3, selector: 1, matchingType: 1, data },
    ];
    w.dns.set(`_${port}._tcp.mx.dane.test`, tlsa(spki));
    w.dns.set(`_${port}._tcp.mx.danebad.test`, tlsa(Buffer.alloc(32, 7)));
  });

  after(async () => {
    postfix?.stop();
    await w?.close();
    await store?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  /** Submits, delivers until every recipient is final, and returns each recipient's view. */
  async function send(payload: Record<string, unknown>): Promise<Map<string, RecipientView>> {
    const submitted = await w.app.inject({
      method: 'POST',
      url: '/message',
      headers: w.tenant.auth,
      payload: { sender: 'news@shop.nl', ...payload },
    });
    assert.equal(submitted.statusCode, 202, submitted.body);
    await w.drain();
    const view = await w.app.inject({
      method: 'GET',
      url: `/message/${submitted.json().id}`,
      headers: w.tenant.auth,
    });
    const recipients = view.json().recipients as RecipientView[];
    return new Map(recipients.map((r) => [r.address, r]));
  }

  /** Postfix hands the message to its delivery agent a moment after it answered 250. */
  async function stored(address: string, count: number): Promise<string[]> {
    for (let i = 0; i < 100; i++) {
      const messages = postfix.delivered(address);
      if (messages.length >= count) return messages;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`${address}: ${postfix.delivered(address).length} stored\n${postfix.log()}`);
  }

  test('PKIX and DANE-EE deliveries, a TLSA mismatch and an unknown user, in one message', async () => {
    const body = 'Hallo Jörg, 8-bit: é ü ß\r\n.one leading dot\r\n..two dots\r\n.\r\nend\r\n';
    const results = await send({
      recipients: [
        'alice@pkix.test',
        'bob@pkix.test',
        'nobody@pkix.test',
        'carol@dane.test',
        'erin@danebad.test',
      ],
      message: mime({ Subject: 'Grüße' }, body),
    });
    const status = (a: string) => [results.get(a)?.status, results.get(a)?.reason ?? null];
    assert.deepEqual(status('alice@pkix.test'), ['delivered', null]);
    assert.deepEqual(status('bob@pkix.test'), ['delivered', null]);
    assert.deepEqual(status('carol@dane.test'), ['delivered', null]);
    assert.deepEqual(status('erin@danebad.test'), ['refused_insecure', 'tlsa-invalid']);
    assert.deepEqual(status('nobody@pkix.test'), ['bounced', 'smtp-permanent-error']);
    assert.match(
      JSON.stringify(results.get('nobody@pkix.test')),
      /5\.1\.1.*User unknown in virtual mailbox table/,
      'the bounce keeps what Postfix answered',
    );

    const [alice] = await stored('alice@pkix.test', 1);
    // Byte for byte, as Postfix stored it (Maildir lines end in LF): dots and 8-bit intact.
    assert.ok(alice!.includes(body.replaceAll('\r\n', '\n')), alice);
    assert.match(alice!, /^Subject: Grüße$/m);
    assert.match(alice!, /^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=shop\.nl;/m);
    assert.match(alice!, /with ESMTPS id /, 'received over TLS');
    await stored('carol@dane.test', 1);
    assert.deepEqual(postfix.delivered('erin@danebad.test'), [], 'nothing for the mismatch');
    // The refused host saw a TLS handshake and QUIT, never a MAIL FROM.
    assert.doesNotMatch(postfix.log(), /to=<erin@danebad\.test>|RCPT from .*erin@danebad/);
  });

  test('a 5 MB message, and a UTF-8 address by SMTPUTF8', async () => {
    const big = `${'0123456789'.repeat(7)}abcdef\r\n`.repeat(70_000);
    const large = await send({ recipients: ['carol@dane.test'], message: mime({}, big) });
    assert.equal(large.get('carol@dane.test')?.status, 'delivered');
    const messages = await stored('carol@dane.test', 2);
    const last = messages.find((m) => m.includes('abcdef\n0123'));
    assert.ok(last?.includes(big.replaceAll('\r\n', '\n')), 'the large message is stored whole');

    const utf8 = await send({ recipients: ['jörg@pkix.test'], message: mime({}, 'utf8\r\n') });
    assert.equal(utf8.get('jörg@pkix.test')?.status, 'delivered');
    const [stored8] = await stored('jörg@pkix.test', 1);
    assert.match(stored8!, /with UTF8SMTPS id /, 'SMTPUTF8 over TLS');
  });

  test('a Postfix listener without STARTTLS gets nothing', async () => {
    const results = await send({ recipients: ['frank@plain.test'], message: mime({}) });
    assert.equal(results.get('frank@plain.test')?.status, 'refused_insecure');
    assert.equal(results.get('frank@plain.test')?.reason, 'starttls-not-supported');
    assert.deepEqual(postfix.delivered('frank@plain.test'), []);
    assert.doesNotMatch(postfix.log(), /frank@plain\.test/);
  });
});
