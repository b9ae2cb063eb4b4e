// The notices about undelivered recipients, end to end: refused recipients are reported within
// the digest window although another recipient is still being retried, one notice per
// message per window, none when everything was delivered, exactly once with several workers
// and after a restart. Each notice is delivered to the test MX of the notification address
// and read there: subject, text part and HTML part.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import {
  type DigestDeps,
  sendDueNotices,
  startNoticeDigest,
} from '../../src/notify/notifications.ts';
import { applyReport, completeAfterReport } from '../../src/recipients/reports.ts';
import type { Store } from '../../src/store/database.ts';
import { countPendingNotices } from '../../src/store/notices.repository.ts';
import { requestToken } from '../support/app.ts';
import { dialects, type TestStore } from '../support/db.ts';
import type { TestSmtpServer } from '../support/smtp-server.ts';
import { mime, SENDER_DOMAIN, startWorld, type World } from './support.ts';

const WINDOW = 300_000;
const HOUR = 3_600_000;

for (const dialect of dialects()) {
  describe(`notice digest (${dialect.name})`, () => {
    let store: TestStore;
    let w: World;
    let notify: TestSmtpServer;
    let plain: TestSmtpServer;

    before(async () => {
      store = await dialect.open();
      w = await startWorld(store);
      await w.addMx('good.test', '127.0.0.1');
      plain = await w.addMx('plain.test', '127.0.0.2', { insecure: true });
      notify = await w.addMx('notify.test', '127.0.0.3');
    });
    after(async () => {
      await w.close();
      await store.close();
    });

    const deps = (on: Store = store): DigestDeps => ({
      store: on,
      masterKey: w.masterKey,
      hostname: 'platform.test',
      now: () => w.clock.now,
      digestMs: WINDOW,
      retryWindowMs: 48 * HOUR,
    });

    /** The notifications queued about message `id`. */
    const noticesAbout = (id: string) =>
      store.db
        .selectFrom('messages')
        .select(['id', 'message_id_header'])
        .where('kind', '=', 'notification')
        .where('message_id_header', 'like', `notification.${id}.%`)
        .execute();

    const send = async (recipients: string[], headers: Record<string, string> = {}) => {
      // A fresh token: the tests move the clock past a token's lifetime.
      const token = await requestToken(w.app, w.tenant.clientId, w.tenant.clientSecret);
      const accepted = await w.app.inject({
        method: 'POST',
        url: '/message',
        headers: { authorization: `Bearer ${token}` },
        payload: { sender: `news@${SENDER_DOMAIN}`, recipients, message: mime(headers) },
      });
      assert.equal(accepted.statusCode, 202, accepted.body);
      return accepted.json().id as string;
    };

    /** Delivers queued notifications and reads the newest one the notification MX received. */
    const readLatestNotice = async () => {
      await w.drain();
      const raw = notify.messages.at(-1)?.data;
      assert.ok(raw, 'a notice reached the notification address');
      const mail = await simpleParser(raw);
      return { subject: mail.subject ?? '', text: mail.text ?? '', html: String(mail.html) };
    };

    test('refusals are reported after the window while another recipient is retried; one notice per window', async () => {
      // slow.test: its resolver answers SERVFAIL (DNSSEC bogus) for the MX lookup.
      w.dns.fail('slow.test', 'bogus', 'MX');
      const start = w.clock.now;
      const id = await send(['a@plain.test', 'b@plain.test', 'c@good.test', 'd@slow.test']);
      await w.drain();
      const before = notify.messages.length;
      assert.equal((await noticesAbout(id)).length, 0, 'the window is still open');

      w.clock.now = start + WINDOW - 1;
      assert.equal(await sendDueNotices(deps()), 0);
      w.clock.now = start + WINDOW;
      assert.equal(await sendDueNotices(deps()), 1);
      assert.equal(await sendDueNotices(deps()), 0, 'once');

      const first = await readLatestNotice();
      assert.equal(notify.messages.length, before + 1);
      assert.equal(first.subject, 'Not delivered to 2 of 4 recipients: Your order');
      assert.match(first.text, /could not be delivered to 2 of its 4 recipients/);
      assert.match(first.text, /All 4 recipients so far: 1 delivered, 2 not delivered, 1 still/);
      assert.match(first.text, /plain\.test: not sent: its mail server cannot be reached securely/);
      assert.match(first.text, /Recipients: a@plain\.test, b@plain\.test\n/);
      assert.match(first.text, /does not offer encryption \(STARTTLS\)/);
      assert.match(
        first.text,
        /What the mail administrator of plain\.test can change: Enable STARTTLS/,
      );
      assert.match(first.text, /mail servers tried: mx\.plain\.test 127\.0\.0\.2 fail/);
      assert.match(first.text, /forward this to the mail administrator of plain\.test:\n\n {2}> /);
      // The recipient still being tried, with the resolver's own words.
      const until = new Date(start + 48 * HOUR).toUTCString();
      assert.ok(first.text.includes(`slow.test: still trying until ${until}`), first.text);
      assert.match(
        first.text.replace(/\s+/g, ' '),
        /SERVFAIL from 127\.0\.0\.1:\d+ \(DNSSEC Bogus/,
      );
      assert.doesNotMatch(first.text, /c@good\.test/);
      assert.match(first.html, /<h2[^>]*>plain\.test: not sent/);
      assert.match(first.html, /<code>a@plain\.test<\/code>, <code>b@plain\.test<\/code>/);
      assert.match(
        first.html,
        /<blockquote[^>]*>Hello, we tried to send e-mail to addresses at plain\.test/,
      );
      assert.match(first.html, /Still being tried/);

      // slow.test recovers into an insecure server two minutes later: refused, and the
      // message is complete, but the last notice is not a window old yet.
      w.dns.clearFailures();
      w.dns.set('slow.test', [{ type: 'MX', preference: 10, exchange: 'mx.plain.test' }]);
      w.clock.now = start + WINDOW + 120_000;
      await w.drain();
      assert.equal((await noticesAbout(id)).length, 1, 'not within the window of the last notice');
      w.clock.now = start + 2 * WINDOW - 1;
      assert.equal(await sendDueNotices(deps()), 0);
      w.clock.now = start + 2 * WINDOW;
      assert.equal(await sendDueNotices(deps()), 1);

      const second = await readLatestNotice();
      assert.equal(second.subject, 'Not delivered to 1 of 4 recipients: Your order');
      assert.match(second.text, /^Since our last notice, your message "Your order"/m);
      assert.match(second.text, /slow\.test: not sent/);
      assert.match(second.text, /Recipients: d@slow\.test\n/);
      assert.doesNotMatch(second.text, /a@plain\.test|still trying/);
      assert.equal(plain.sawMailFrom, false, 'nothing was ever sent to the insecure server');
    });

    test('everything delivered: no notice at all', async () => {
      const id = await send(['x@good.test', 'y@good.test']);
      await w.drain();
      w.clock.now += 2 * HOUR;
      assert.equal(await sendDueNotices(deps()), 0);
      assert.deepEqual(await noticesAbout(id), []);
    });

    test('a message complete with a refusal is reported at once', async () => {
      const id = await send(['e@plain.test', 'f@good.test']);
      await w.drain();
      assert.equal((await noticesAbout(id)).length, 1, 'queued by the worker as it completed');
      const notice = await readLatestNotice();
      assert.equal(notice.subject, 'Not delivered to 1 of 2 recipients: Your order');
      assert.doesNotMatch(notice.text, /still trying/);
    });

    test('a late bounce gets a notice of its own; what the remote server said is escaped in HTML', async () => {
      const id = await send(['g@good.test'], { Subject: 'Order <1042> & "more"' });
      await w.drain();
      const recipient = await store.db
        .selectFrom('recipients')
        .select('id')
        .where('message_id', '=', id)
        .executeTakeFirstOrThrow();
      w.clock.now += 60_000;
      const bouncedAt = w.clock.now;
      const result = await applyReport(store.db, {
        recipientId: recipient.id,
        kind: 'bounce',
        detail: '550 5.1.1 <script>alert("owned")</script> mailbox unknown',
        hardBounce: true,
        at: bouncedAt,
      });
      assert.equal(result.outcome, 'bounced');
      assert.equal(await completeAfterReport(store.db, id, bouncedAt), 'complete-before');
      assert.equal(await sendDueNotices(deps(), [id]), 0, 'a late bounce waits for the window');
      w.clock.now = bouncedAt + WINDOW;
      assert.equal(await sendDueNotices(deps()), 1);

      const notice = await readLatestNotice();
      assert.equal(notice.subject, 'Not delivered: Order <1042> & "more"');
      assert.match(notice.text, /good\.test: rejected by its mail server/);
      assert.match(
        notice.text,
        /<script>alert\("owned"\)<\/script>/,
        'the text part is plain text',
      );
      assert.doesNotMatch(notice.html, /<script|alert\("owned"\)/);
      assert.match(notice.html, /&lt;script&gt;alert\(&quot;owned&quot;\)&lt;\/script&gt;/);
      assert.match(
        notice.html,
        /<title>Not delivered: Order &lt;1042&gt; &amp; &quot;more&quot;<\/title>/,
      );
    });

    test('the worker role sends due notices by itself, on a timer', async () => {
      w.dns.fail('later.test', 'servfail', 'MX');
      const id = await send(['j@plain.test', 'k@later.test']);
      await w.drain();
      assert.equal((await noticesAbout(id)).length, 0);
      // A window of 0: due at once; the timer looks every second then.
      const digest = startNoticeDigest({ ...deps(), digestMs: 0 });
      try {
        for (let i = 0; i < 50 && (await noticesAbout(id)).length === 0; i++) {
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      } finally {
        await digest.stop();
      }
      assert.equal((await noticesAbout(id)).length, 1);
      w.dns.clearFailures();
    });

    test('several workers send a due notice once, and a restarted one finds it in the database', async () => {
      w.dns.fail('stuck.test', 'servfail', 'MX');
      const start = w.clock.now;
      const id = await send(['h@plain.test', 'i@stuck.test']);
      await w.drain();
      assert.equal(await countPendingNotices(store.db, id), 1);
      w.clock.now = start + WINDOW;
      // PostgreSQL: three processes' pools race; SQLite: one writer, passes interleaved.
      const pools =
        dialect.name === 'postgres'
          ? [await store.openSibling(), await store.openSibling(), await store.openSibling()]
          : [store, store, store];
      const sent = await Promise.all(pools.map((pool) => sendDueNotices(deps(pool))));
      assert.equal(
        sent.reduce((a, b) => a + b, 0),
        1,
      );
      assert.equal((await noticesAbout(id)).length, 1);
      assert.equal(await countPendingNotices(store.db, id), 0);

      // A new process (another handle on the same database) has nothing left to send; a
      // refusal recorded now is due a window after the last notice.
      const restarted = await store.openSibling();
      assert.equal(await sendDueNotices(deps(restarted)), 0);
      w.dns.clearFailures();
      w.dns.set('stuck.test', [{ type: 'MX', preference: 10, exchange: 'mx.plain.test' }]);
      w.clock.now = start + WINDOW + 120_000;
      await w.drain();
      assert.equal(await countPendingNotices(store.db, id), 1);
      w.clock.now = start + 2 * WINDOW;
      assert.equal(await sendDueNotices(deps(restarted)), 1);
      assert.equal((await noticesAbout(id)).length, 2);
    });
  });
}
