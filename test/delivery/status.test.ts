// What a sender sees afterwards: per-recipient history with evidence, the message list,
// and the auditor's export.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { dialects, type TestStore } from '../support/db.ts';
import { mime, SENDER_DOMAIN, startWorld, type World } from './support.ts';

for (const dialect of dialects()) {
  describe(`message status and evidence (${dialect.name})`, () => {
    let store: TestStore;
    let w: World;
    let firstId: string;

    before(async () => {
      store = await dialect.open();
      w = await startWorld(store);
      await w.addMx('good.test', '127.0.0.1');
      await w.addMx('bad.test', '127.0.0.2', { insecure: true });
      await w.addMx('notify.test', '127.0.0.3');
      const first = await w.submit({
        sender: `news@${SENDER_DOMAIN}`,
        recipients: ['a@good.test', 'b@bad.test'],
        message: mime({ Subject: 'First' }),
      });
      firstId = first.json().id;
      w.clock.now += 1000;
      for (let i = 0; i < 4; i++) {
        await w.submit({
          sender: `news@${SENDER_DOMAIN}`,
          recipients: [`m${i}@good.test`],
          message: mime({ Subject: `Later ${i}` }),
        });
        w.clock.now += 1000;
      }
      await w.drain();
    });
    after(async () => {
      await w.close();
      await store.close();
    });

    test('GET /message/{id}: each recipient with its attempts and their evidence', async () => {
      const response = await w.app.inject({
        method: 'GET',
        url: `/message/${firstId}`,
        headers: w.tenant.auth,
      });
      assert.equal(response.statusCode, 200);
      const recipients = Object.fromEntries(
        response.json().recipients.map((r: { address: string }) => [r.address, r]),
      );
      const delivered = recipients['a@good.test'];
      assert.equal(delivered.status, 'delivered');
      assert.equal(delivered.history.length, 1);
      const attempt = delivered.history[0];
      assert.equal(attempt.verdict, 'deliver');
      assert.match(attempt.reply, /^250/);
      assert.equal(attempt.evidence.mx_host, 'mx.good.test');
      assert.equal(attempt.evidence.ip, '127.0.0.1');
      assert.equal(attempt.evidence.authentication, 'pkix');
      assert.equal(attempt.evidence.tls_version, 'TLSv1.3');
      assert.match(attempt.evidence.cipher, /^TLS_/);
      assert.match(attempt.evidence.certificate_sha256, /^[0-9a-f]{64}$/);
      assert.match(attempt.evidence.certificate_issuer, /SecureMail Delivery Test Root/);

      const refused = recipients['b@bad.test'];
      assert.equal(refused.status, 'refused_insecure');
      assert.equal(refused.history[0].verdict, 'refuse');
      assert.equal(refused.history[0].reason, 'starttls-not-supported');
      assert.deepEqual(refused.history[0].evidence.hosts_tried, [
        'mx.bad.test 127.0.0.2 fail starttls-not-supported',
      ]);

      const other = await w.app.inject({
        method: 'GET',
        url: '/message/00000000-0000-4000-8000-000000000000',
        headers: w.tenant.auth,
      });
      assert.equal(other.statusCode, 404);
      assert.equal(other.json().name, 'message_not_found');
    });

    test('GET /messages pages newest first and filters', async () => {
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const url: string = `/messages?limit=2${cursor ? `&cursor=${cursor}` : ''}`;
        const page = await w.app.inject({ method: 'GET', url, headers: w.tenant.auth });
        assert.equal(page.statusCode, 200, page.body);
        const body = page.json();
        assert.ok(body.messages.length <= 2);
        seen.push(...body.messages.map((m: { subject: string }) => m.subject));
        cursor = body.next_cursor;
      } while (cursor !== null);
      assert.deepEqual(
        seen,
        ['Later 3', 'Later 2', 'Later 1', 'Later 0', 'First'],
        'notifications are not listed',
      );

      const refused = await w.app.inject({
        method: 'GET',
        url: '/messages?status=refused_insecure',
        headers: w.tenant.auth,
      });
      assert.deepEqual(
        refused
          .json()
          .messages.map((m: { id: string; statuses: Record<string, number> }) => [
            m.id,
            m.statuses,
          ]),
        [[firstId, { delivered: 1, refused_insecure: 1 }]],
      );
      const since = await w.app.inject({
        method: 'GET',
        url: `/messages?since=${new Date(w.clock.now - 2500).toISOString()}`,
        headers: w.tenant.auth,
      });
      assert.equal(since.json().messages.length, 2);
      const otherDomain = await w.app.inject({
        method: 'GET',
        url: '/messages?domain=other.nl',
        headers: w.tenant.auth,
      });
      assert.deepEqual(otherDomain.json().messages, []);

      for (const bad of ['status=lost', 'limit=0', 'cursor=xyz', 'since=yesterday', 'colour=red']) {
        const response = await w.app.inject({
          method: 'GET',
          url: `/messages?${bad}`,
          headers: w.tenant.auth,
        });
        assert.equal(response.statusCode, 400, bad);
        assert.equal(response.json().name, 'validation_failed', bad);
      }
    });

    test('session evidence is stored once per session and domain, exported whole per attempt', async () => {
      const attempts = await store.db
        .selectFrom('attempts')
        .select(['evidence_json', 'session_evidence_id'])
        .execute();
      const shared = await store.db.selectFrom('session_evidence').select('id').execute();
      assert.ok(attempts.every((a) => a.session_evidence_id !== null));
      // Five recipients at good.test went over one pooled session: fewer shared rows than
      // attempts, and an attempt row holds only its own members.
      assert.ok(shared.length < attempts.length, `${shared.length} < ${attempts.length}`);
      for (const a of attempts) assert.ok(a.evidence_json.length < 200, a.evidence_json);
      const from = new Date(w.clock.now - 3_600_000).toISOString();
      const json = await w.app.inject({
        method: 'GET',
        url: `/account/evidence?domain=${SENDER_DOMAIN}&from=${from}`,
        headers: w.tenant.auth,
      });
      for (const a of json.json().attempts) {
        assert.equal(a.evidence.recipient, a.recipient);
        assert.ok(a.evidence.domain?.recipientDomain, 'the domain assessment is part of each');
        assert.ok(a.evidence.hosts.length > 0, 'and the hosts tried');
      }
    });

    test('GET /account/evidence exports every attempt as JSON and CSV', async () => {
      const from = new Date(w.clock.now - 3_600_000).toISOString();
      const json = await w.app.inject({
        method: 'GET',
        url: `/account/evidence?domain=${SENDER_DOMAIN}&from=${from}`,
        headers: w.tenant.auth,
      });
      assert.equal(json.statusCode, 200);
      const body = json.json();
      assert.equal(body.truncated, false);
      // 6 recipients of the tenant's messages plus the notification to the account.
      assert.equal(body.attempts.length, 7);
      const refusal = body.attempts.find(
        (a: { recipient: string }) => a.recipient === 'b@bad.test',
      );
      assert.equal(refusal.verdict, 'refuse');
      assert.ok(
        refusal.evidence.hosts[0].transcript.length > 0,
        'the full record, transcript included',
      );

      const csv = await w.app.inject({
        method: 'GET',
        url: `/account/evidence?domain=${SENDER_DOMAIN}&from=${from}&format=csv`,
        headers: w.tenant.auth,
      });
      assert.equal(csv.statusCode, 200);
      assert.match(String(csv.headers['content-type']), /text\/csv/);
      const lines = csv.body.trim().split('\r\n');
      assert.equal(lines.length, 8);
      assert.match(
        lines[0]!,
        /^attempt_id,message,message_id,recipient,recipient_status,started_at/,
      );
      assert.ok(
        lines.some((l) => l.includes('b@bad.test') && l.includes('starttls-not-supported')),
      );
      assert.ok(lines.some((l) => l.includes('a@good.test') && l.includes(',pkix,TLSv1.3,')));

      const empty = await w.app.inject({
        method: 'GET',
        url: `/account/evidence?domain=${SENDER_DOMAIN}&to=${from}`,
        headers: w.tenant.auth,
      });
      assert.equal(empty.json().attempts.length, 0);
      const backwards = await w.app.inject({
        method: 'GET',
        url: `/account/evidence?domain=${SENDER_DOMAIN}&from=${new Date(w.clock.now).toISOString()}&to=${from}`,
        headers: w.tenant.auth,
      });
      assert.equal(backwards.statusCode, 400);
      const stranger = await w.app.inject({
        method: 'GET',
        url: '/account/evidence?domain=stranger.nl',
        headers: w.tenant.auth,
      });
      assert.equal(stranger.statusCode, 404);
    });
  });
}
