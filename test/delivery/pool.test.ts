// The session pool's safety rule: a verified session to an MX host carries mail for another
// recipient domain only when that domain's own assessment asks for the same authentication.
// Two domains with the same plain PKIX policy share one TLS connection; a domain for which
// the same host is DANE-mandatory (secure TLSA) never gets the PKIX session.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { joinEvidence } from '../../src/store/messages.table.ts';
import { chainPem, makeLeaf } from '../support/certs.ts';
import { dialects, type TestStore } from '../support/db.ts';
import { TestSmtpServer } from '../support/smtp-server.ts';
import { mime, SENDER_DOMAIN, startWorld, type World } from './support.ts';

const SHARED_MX = 'mx.shared.test';

for (const dialect of dialects()) {
  describe(`session pool (${dialect.name})`, () => {
    let store: TestStore;
    let w: World;
    let shared: TestSmtpServer;
    let spki: Buffer;

    before(async () => {
      store = await dialect.open();
      w = await startWorld(store);
      // Fixes the world's SMTP port; also receives notifications, if any.
      await w.addMx('notify.test', '127.0.0.3');
      const leaf = await makeLeaf({ names: [SHARED_MX], issuer: w.ca });
      spki = leaf.spki;
      shared = await TestSmtpServer.start({
        host: '127.0.0.21',
        port: w.smtpPort,
        name: SHARED_MX,
        tls: { key: leaf.keyPem, cert: chainPem(leaf) },
      });
      w.servers.push(shared);
      w.dns.set(SHARED_MX, [{ type: 'A', data: '127.0.0.21' }]);
      for (const domain of ['first.test', 'second.test', 'dane.test']) {
        w.dns.set(domain, [{ type: 'MX', preference: 10, exchange: SHARED_MX }]);
      }
      // dane.test and the MX host's addresses are DNSSEC-signed and the host has a usable
      // TLSA record: for dane.test the host must pass DANE. first.test and second.test are
      // unsigned, so for them the same host is plain PKIX.
      w.dns.sign('dane.test');
      w.dns.sign(SHARED_MX);
      w.dns.set(`_${w.smtpPort}._tcp.${SHARED_MX}`, [
        {
          type: 'TLSA',
          usage: 3,
          selector: 1,
          matchingType: 1,
          data: createHash('sha256').update(spki).digest(),
        },
      ]);
    });
    after(async () => {
      await w.worker.close();
      await w.close();
      await store.close();
    });

    const send = async (recipients: string[]) => {
      const accepted = await w.submit({
        sender: `news@${SENDER_DOMAIN}`,
        recipients,
        message: mime({}),
      });
      assert.equal(accepted.statusCode, 202, accepted.body);
      return accepted.json().id as string;
    };
    const attemptsOf = async (messageId: string) => {
      const rows = await w.store.db
        .selectFrom('attempts')
        .innerJoin('recipients', 'recipients.id', 'attempts.recipient_id')
        .leftJoin('session_evidence', 'session_evidence.id', 'attempts.session_evidence_id')
        .select([
          'recipients.address',
          'recipients.status',
          'attempts.evidence_json',
          'session_evidence.evidence_json as shared',
        ])
        .where('recipients.message_id', '=', messageId)
        .execute();
      return rows.map((r) => ({
        ...r,
        evidence: JSON.parse(joinEvidence(r.evidence_json, r.shared)),
      }));
    };

    test('two domains with the same PKIX policy share one TLS connection', async () => {
      const first = await send(['a@first.test']);
      await w.drain();
      const second = await send(['b@second.test']);
      await w.drain();

      assert.equal(shared.connections, 1, 'one TLS connection carried both domains');
      assert.deepEqual(
        shared.messages.map((m) => [m.to, m.overTls]),
        [
          [['a@first.test'], true],
          [['b@second.test'], true],
        ],
      );
      const [a] = await attemptsOf(first);
      const [b] = await attemptsOf(second);
      assert.equal(a!.status, 'delivered');
      assert.equal(b!.status, 'delivered');
      assert.equal(b!.evidence.authentication, 'pkix');
      assert.equal(b!.evidence.domain.recipientDomain, 'second.test');
      assert.equal(b!.evidence.reusedSession.openedFor, 'first.test');
      assert.ok(b!.evidence.hosts.at(-1).certificate.sha256, 'the session certificate is recorded');
    });

    test('a domain for which the host is DANE-mandatory never gets the PKIX session', async () => {
      const before = shared.connections;
      const id = await send(['c@dane.test']);
      await w.drain();

      assert.equal(shared.connections, before + 1, 'a new connection was opened and verified');
      const [c] = await attemptsOf(id);
      assert.equal(c!.status, 'delivered');
      assert.equal(c!.evidence.authentication, 'dane');
      assert.equal(c!.evidence.reusedSession, undefined);
      assert.match(JSON.stringify(c!.evidence.hosts.at(-1).validation), /DANE-EE match/);

      // And the PKIX domains go on using the PKIX session, not the DANE one (and vice versa).
      const again = await send(['d@second.test', 'e@dane.test']);
      await w.drain();
      assert.equal(shared.connections, before + 1, 'both sessions were reused, each for its kind');
      const rows = await attemptsOf(again);
      const method = Object.fromEntries(rows.map((r) => [r.address, r.evidence.authentication]));
      assert.deepEqual(method, { 'd@second.test': 'pkix', 'e@dane.test': 'dane' });
    });

    test('a TLSA record that the pooled DANE session does not match makes a new check', async () => {
      const before = shared.connections;
      // The host's TLSA now names another key: the open DANE session no longer satisfies
      // dane.test, and the new connection fails DANE, so nothing is sent.
      w.dns.set(`_${w.smtpPort}._tcp.${SHARED_MX}`, [
        { type: 'TLSA', usage: 3, selector: 1, matchingType: 1, data: Buffer.alloc(32, 7) },
      ]);
      const sentBefore = shared.messages.length;
      const id = await send(['f@dane.test']);
      await w.worker.runOnce();
      assert.equal(shared.connections, before + 1);
      assert.equal(
        shared.messages.length,
        sentBefore,
        'nothing sent on a session that no longer passes',
      );
      const [f] = await attemptsOf(id);
      assert.equal(f!.status, 'refused_insecure');
      assert.equal(f!.evidence.domain.recipientDomain, 'dane.test');
    });
  });
}
