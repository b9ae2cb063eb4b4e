// CHUNKING (RFC 3030) end to end, against the test SMTP server that implements BDAT: with
// PIPELINING several transactions share a flight; without it every command waits. A refused
// RCPT in a pipelined BDAT flight bounces that recipient only and is never counted as
// delivered; a connection dropped mid-flight leaves every message of it either delivered
// (its own 250 arrived) or deferred and delivered on a later try, none lost. A new
// connection to the host resumes the TLS session of the first, which the evidence shows.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { joinEvidence } from '../../src/store/messages.table.ts';
import { dialects, type TestStore } from '../support/db.ts';
import { mime, SENDER_DOMAIN, startWorld, type World } from './support.ts';

async function send(w: World, recipients: string[]): Promise<string> {
  const accepted = await w.submit({
    sender: `news@${SENDER_DOMAIN}`,
    recipients,
    message: mime({}, 'Hello,\r\n.a line that starts with a dot\r\n'),
  });
  assert.equal(accepted.statusCode, 202, accepted.body);
  return accepted.json().id;
}

async function ledger(w: World, messageId: string) {
  const rows = await w.store.db
    .selectFrom('recipients')
    .leftJoin('attempts', 'attempts.recipient_id', 'recipients.id')
    .leftJoin('session_evidence', 'session_evidence.id', 'attempts.session_evidence_id')
    .select([
      'recipients.address',
      'recipients.status',
      'recipients.detail',
      'attempts.verdict',
      'attempts.reply',
      'attempts.evidence_json',
      'session_evidence.evidence_json as shared',
    ])
    .where('recipients.message_id', '=', messageId)
    .orderBy('recipients.address')
    .execute();
  return rows.map((r) => ({
    ...r,
    evidence:
      r.evidence_json === null ? undefined : JSON.parse(joinEvidence(r.evidence_json, r.shared)),
  }));
}

const users = (n: number, domain: string) => Array.from({ length: n }, (_, i) => `u${i}@${domain}`);

for (const dialect of dialects()) {
  describe(`CHUNKING end to end (${dialect.name})`, () => {
    let store: TestStore;
    let w: World;

    before(async () => {
      store = await dialect.open();
      w = await startWorld(store, { SECUREMAIL_PIPELINE_DEPTH: '4' });
    });
    after(async () => {
      await w.worker.close();
      await w.close();
      await store.close();
    });

    test('with PIPELINING: several BDAT transactions per flight, each delivered on its own 250', async () => {
      const server = await w.addMx('chunk.test', '127.0.0.1', { chunking: true });
      const id = await send(w, users(12, 'chunk.test'));
      await w.drain();
      const rows = await ledger(w, id);
      assert.deepEqual([...new Set(rows.map((r) => r.status))], ['delivered']);
      assert.equal(server.messages.length, 12);
      assert.ok(server.messages.every((m) => m.via === 'bdat' && m.overTls));
      // The body went octet-counted, not dot-stuffed.
      assert.match(server.messages[0]!.data.toString(), /\r\n\.a line that starts with a dot\r\n/);
      const perFlight = server.flights.map((f) => f.filter((c) => /^tls: BDAT /.test(c)).length);
      assert.ok(Math.max(...perFlight) >= 2, `BDAT per flight: ${perFlight.join(',')}`);
      assert.ok(Math.max(...perFlight) <= 4, 'never more than the pipeline depth');
      for (const r of rows) assert.match(r.reply ?? '', /^250 /);
    });

    test('without PIPELINING: BDAT LAST, one command at a time', async () => {
      const server = await w.addMx('chunk-slow.test', '127.0.0.2', {
        chunking: true,
        pipelining: false,
      });
      const id = await send(w, users(3, 'chunk-slow.test'));
      await w.drain();
      const rows = await ledger(w, id);
      assert.deepEqual([...new Set(rows.map((r) => r.status))], ['delivered']);
      assert.ok(server.messages.every((m) => m.via === 'bdat'));
      const afterTls = server.flights.filter((f) => f.some((c) => c.startsWith('tls: ')));
      assert.ok(
        afterTls.every((f) => f.length === 1),
        JSON.stringify(afterTls),
      );
    });

    test('a refused RCPT in a pipelined BDAT flight: that recipient bounces, nothing counted delivered', async () => {
      const server = await w.addMx('chunk-refuse.test', '127.0.0.3', {
        chunking: true,
        rcptReply: (address) =>
          address.startsWith('u1@') ? '550 5.1.1 <u1@chunk-refuse.test>: no such user' : undefined,
      });
      const id = await send(w, users(4, 'chunk-refuse.test'));
      await w.drain();
      const rows = await ledger(w, id);
      const refused = rows.find((r) => r.address === 'u1@chunk-refuse.test')!;
      assert.equal(refused.status, 'bounced');
      assert.equal(refused.verdict, 'bounce');
      assert.match(refused.detail ?? '', /^RCPT: 550/);
      assert.deepEqual(
        rows.filter((r) => r !== refused).map((r) => r.status),
        ['delivered', 'delivered', 'delivered'],
      );
      assert.equal(server.messages.length, 3);
      assert.ok(server.messages.every((m) => !m.to.includes('u1@chunk-refuse.test')));
      // They were in one flight.
      assert.ok(server.flights.some((f) => f.filter((c) => /^tls: BDAT /.test(c)).length >= 2));
    });

    test('a connection dropped mid-flight: each message delivered with its 250 or retried, none lost', async () => {
      const server = await w.addMx('chunk-drop.test', '127.0.0.4', {
        chunking: true,
        // The third message is kept by the server, which then drops the connection unanswered.
        afterContent: (_m, index) => (index === 2 ? 'drop' : 'reply'),
      });
      const recipients = users(8, 'chunk-drop.test');
      const id = await send(w, recipients);
      await w.drain();
      let rows = await ledger(w, id);
      const answered = new Set(
        server.messages.filter((m) => m.reply?.startsWith('250')).flatMap((m) => m.to),
      );
      for (const r of rows) {
        if (r.status === 'delivered') {
          assert.ok(answered.has(r.address), `${r.address} delivered without a 250`);
        } else {
          assert.equal(r.status, 'deferred', `${r.address}: ${r.status}`);
        }
      }
      assert.ok(
        rows.some((r) => r.status === 'deferred'),
        'the drop deferred some',
      );
      // Later tries deliver the rest.
      w.clock.now += 3_600_000;
      await w.drain();
      // Back to the time the API token was issued at, for the tests after this one.
      w.clock.now -= 3_600_000;
      rows = (await ledger(w, id)).filter((r) => r.verdict === 'deliver');
      assert.deepEqual(rows.map((r) => r.address).sort(), [...recipients].sort());
      const received = new Map<string, number>();
      for (const m of server.messages)
        for (const to of m.to) received.set(to, (received.get(to) ?? 0) + 1);
      assert.deepEqual([...received.keys()].sort(), [...recipients].sort(), 'none lost');
      // Only the message the server kept without answering went twice.
      const twice = [...received].filter(([, n]) => n > 1).map(([a]) => a);
      assert.ok(twice.length <= 1, JSON.stringify(twice));
    });

    test('a new connection to the host resumes the TLS session; the evidence says so', async () => {
      const server = await w.addMx('resume.test', '127.0.0.5', { chunking: true });
      const first = await send(w, ['a@resume.test']);
      await w.drain();
      // The pooled session is closed: the next message needs a new connection.
      await w.worker.close();
      const second = await send(w, ['b@resume.test']);
      await w.drain();
      assert.equal(server.connections, 2);
      const [a] = await ledger(w, first);
      const [b] = await ledger(w, second);
      assert.equal(a!.status, 'delivered');
      assert.equal(b!.status, 'delivered');
      const firstHost = a!.evidence.hosts.at(-1);
      const resumedHost = b!.evidence.hosts.at(-1);
      assert.equal(firstHost.resumed, undefined);
      assert.ok(resumedHost.resumed, 'the second connection resumed the TLS session');
      assert.equal(resumedHost.certificate.sha256, firstHost.certificate.sha256);
      assert.match(resumedHost.validation.join('\n'), /session resumed/);
      assert.ok(w.worker.sessionStats.resumed >= 1);
    });
  });
}
