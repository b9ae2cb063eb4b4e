// The sending path end to end: POST /message, the worker on a verified TLS session, DKIM,
// refusal of insecure recipients, notification of the sender, status with evidence.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { dialects, type TestStore } from '../support/db.ts';
import { mailauthResolver, mime, SENDER_DOMAIN, startWorld, type World } from './support.ts';

for (const dialect of dialects()) {
  describe(`sending (${dialect.name})`, () => {
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

    test('secure recipients get the signed message without Bcc; insecure ones are refused and reported', async () => {
      const secure = await w.addMx('secure.test', '127.0.0.1');
      const insecure = await w.addMx('plain.test', '127.0.0.2', { insecure: true });
      const notify = await w.addMx('notify.test', '127.0.0.3');
      const message = mime({ Bcc: 'hidden@secret.test', 'Message-ID': '<order-1@shop.nl>' });

      const accepted = await w.submit({
        sender: `news@${SENDER_DOMAIN}`,
        recipients: ['a@secure.test', 'b@secure.test', 'c@plain.test', 'A@SECURE.test'],
        message,
      });
      assert.equal(accepted.statusCode, 202, accepted.body);
      const body = accepted.json();
      assert.deepEqual(
        body.recipients.map((r: { address: string; status: string }) => [r.address, r.status]),
        [
          ['a@secure.test', 'queued'],
          ['b@secure.test', 'queued'],
          ['c@plain.test', 'queued'],
          ['A@secure.test', 'queued'],
        ],
        'duplicates differ only in the domain case collapse; local parts stay as given',
      );

      await w.drain();

      // Secure: delivered over TLS, signed, Bcc gone, bounce address per recipient.
      const received = secure.messages;
      assert.deepEqual(received.flatMap((m) => m.to).sort(), [
        'A@secure.test',
        'a@secure.test',
        'b@secure.test',
      ]);
      for (const m of received) {
        assert.equal(m.overTls, true);
        assert.match(m.from, /^bounce\+[0-9a-f-]{36}@bounce\.shop\.nl$/);
        const text = m.data.toString();
        assert.doesNotMatch(text, /hidden@secret\.test|^Bcc:/im);
        const verdict = await dkimVerify(m.data, { resolver: mailauthResolver(w.resolver) });
        assert.ok(verdict.results.length >= 1);
        for (const r of verdict.results)
          assert.equal(r.status.result, 'pass', JSON.stringify(r.status));
        assert.ok(verdict.results.every((r) => r.signingDomain === SENDER_DOMAIN));
      }
      assert.equal(
        new Set(received.map((m) => m.from)).size,
        3,
        'every recipient has its own return path',
      );

      // Insecure: never saw MAIL FROM.
      assert.equal(insecure.sawMailFrom, false);
      assert.equal(insecure.messages.length, 0);

      // Status with evidence.
      const status = await w.app.inject({
        method: 'GET',
        url: `/message/${body.id}`,
        headers: w.tenant.auth,
      });
      assert.equal(status.statusCode, 200);
      const byAddress = Object.fromEntries(
        status.json().recipients.map((r: { address: string }) => [r.address, r]),
      );
      assert.equal(byAddress['a@secure.test'].status, 'delivered');
      assert.equal(byAddress['c@plain.test'].status, 'refused_insecure');
      assert.equal(byAddress['c@plain.test'].reason, 'starttls-not-supported');
      assert.ok(status.json().completed_at);

      // One notification for the message, over the same secure path, naming the refused recipient.
      assert.equal(notify.messages.length, 1);
      const note = notify.messages[0]!;
      assert.equal(note.from, '', 'null return path: a notification never bounces');
      assert.deepEqual(note.to, ['ops@notify.test']);
      const noteText = note.data.toString();
      assert.match(noteText, /c@plain\.test/);
      assert.match(noteText, /does not offer encryption/);
      assert.doesNotMatch(noteText, /a@secure\.test:/);
      const noteDkim = await dkimVerify(note.data, { resolver: mailauthResolver(w.resolver) });
      assert.equal(noteDkim.results[0]?.status.result, 'pass');
    });

    test('a repeated Message-ID with the same content answers the first 202 and sends nothing twice', async () => {
      const server = await w.addMx('retry.test', '127.0.0.4');
      const payload = {
        sender: `news@${SENDER_DOMAIN}`,
        recipients: ['x@retry.test'],
        message: mime({ 'Message-ID': '<same@shop.nl>' }),
      };
      const first = await w.submit(payload);
      const second = await w.submit(payload);
      assert.equal(first.statusCode, 202);
      assert.equal(second.statusCode, 202);
      assert.equal(second.headers['idempotent-replay'], 'true');
      assert.deepEqual(second.json(), first.json());
      const reordered = await w.submit({
        ...payload,
        recipients: ['x@retry.test', 'x@RETRY.test'],
      });
      assert.equal(
        reordered.statusCode,
        202,
        'the same recipients, listed otherwise, are the same message',
      );
      assert.deepEqual(reordered.json(), first.json());
      const clash = await w.submit({ ...payload, recipients: ['y@retry.test'] });
      assert.equal(clash.statusCode, 409);
      assert.equal(clash.json().name, 'message_id_conflict');
      await w.drain();
      assert.equal(server.messages.length, 1);
    });

    test('4xx then success', async () => {
      const server = await w.addMx('busy.test', '127.0.0.5', {
        rcptReplies: ['451 4.3.2 try again later'],
        repliesAcrossConnections: true,
      });
      const accepted = await w.submit({
        sender: `news@${SENDER_DOMAIN}`,
        recipients: ['q@busy.test'],
        message: mime({}),
      });
      await w.drain();
      const id = accepted.json().id;
      let status = (
        await w.app.inject({ method: 'GET', url: `/message/${id}`, headers: w.tenant.auth })
      ).json();
      assert.equal(status.recipients[0].status, 'deferred');
      assert.equal(status.recipients[0].reason, 'smtp-temporary-error');
      assert.match(status.recipients[0].detail, /451/);
      assert.equal(server.messages.length, 0);

      w.clock.now += 2 * 60_000;
      await w.drain();
      status = (
        await w.app.inject({ method: 'GET', url: `/message/${id}`, headers: w.tenant.auth })
      ).json();
      assert.equal(status.recipients[0].status, 'delivered');
      assert.equal(status.recipients[0].attempts, 2);
      assert.equal(server.messages.length, 1);
    });

    test('all MX hosts down: retried with backoff, then expired and reported', async () => {
      // An MX address where nothing listens.
      w.dns.set('down.test', [{ type: 'MX', preference: 10, exchange: 'mx.down.test' }]);
      w.dns.set('mx.down.test', [{ type: 'A', data: '127.0.0.9' }]);
      const accepted = await w.submit({
        sender: `news@${SENDER_DOMAIN}`,
        recipients: ['z@down.test'],
        message: mime({}),
      });
      assert.equal(accepted.statusCode, 202, accepted.body);
      const id = accepted.json().id;
      const notify = w.servers.find((s) => s.host === '127.0.0.3')!;
      const notesBefore = notify.messages.length;
      // Read from the store: the loop moves the clock past the access token's lifetime.
      const statusOf = () =>
        w.store.db
          .selectFrom('recipients')
          .selectAll()
          .where('message_id', '=', id)
          .executeTakeFirstOrThrow();
      await w.drain();
      assert.equal((await statusOf()).status, 'deferred');
      assert.equal((await statusOf()).reason, 'connection-failed');
      const start = w.clock.now;
      let rounds = 0;
      while ((await statusOf()).status === 'deferred' && rounds++ < 200) {
        w.clock.now += 60 * 60_000;
        await w.drain();
      }
      const final = await statusOf();
      assert.equal(final.status, 'expired');
      assert.ok(w.clock.now - start <= 49 * 3600_000, 'gives up when the 48 h window ends');
      assert.ok(final.attempts > 5, 'retried several times');
      assert.equal(notify.messages.length, notesBefore + 1);
      assert.match(notify.messages.at(-1)!.data.toString(), /z@down\.test/);
    });
  });
}
