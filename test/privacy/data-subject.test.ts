// A data subject's access and erasure through the API, on real deliveries (the in-process
// world: DNS with the AD bit, SMTP servers with test certificates, the worker, the bounce
// MX's processing): everything the account holds about the address is returned, then erased
// from every table and column (sealed ones opened), while another tenant's data about the
// same address stays exactly as it was, the address stays suppressed, and the counts of the
// auditor's report stay right.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { receiveMessage } from '../../src/inbound/receive.ts';
import { WEBHOOK_EVENT_TYPES } from '../../src/outbox/webhook-events.ts';
import { insertWebhook } from '../../src/store/webhooks.repository.ts';
import { mime, SENDER_DOMAIN, startWorld, type World } from '../delivery/support.ts';
import { fixture } from '../inbound/fixtures.ts';
import type { Tenant } from '../support/app.ts';
import { dialects, type TestStore } from '../support/db.ts';
import { verifiedSendingAccount } from '../support/sending-account.ts';
import { type Occurrence, walkForAddress } from './walk.ts';

const ADDRESS = 'jan@example.nl';

for (const dialect of dialects()) {
  describe(`data subject access and erasure (${dialect.name})`, () => {
    let store: TestStore;
    let w: World;
    let other: Tenant;
    let accountId: string;
    let theirs: Occurrence[];
    let queuedId: string;
    let firstId: string;
    let reportBefore: Record<string, unknown> & {
      delivered: { by_method: unknown };
      bounced: { reported_after_delivery: number };
    };
    const period = () => ({ from: '2026-06-01T00:00:00.000Z', to: '2027-06-01T00:00:00.000Z' });

    const get = (url: string, tenant: Tenant = w.tenant) =>
      w.app.inject({ method: 'GET', url, headers: tenant.auth });

    before(async () => {
      store = await dialect.open();
      w = await startWorld(store);
      await w.addMx('example.nl', '127.0.0.1');
      await w.addMx('notify.test', '127.0.0.3');

      // Another tenant writes to the same person first: its rows are what must survive.
      ({ tenant: other } = await verifiedSendingAccount(w.app, store, w.dns, {
        domain: 'other.nl',
        notificationEmail: 'ops@notify.test',
        clientName: 'other tenant',
        now: w.clock.now,
      }));
      const theirsSent = await w.app.inject({
        method: 'POST',
        url: '/message',
        headers: other.auth,
        payload: {
          sender: 'news@other.nl',
          recipients: ['Jan@Example.nl'],
          message: mime({
            From: 'news@other.nl',
            To: 'Jan@Example.nl',
            Subject: 'For Jan@example.nl',
          }),
        },
      });
      assert.equal(theirsSent.statusCode, 202, theirsSent.body);
      await w.drain();
      theirs = await walkForAddress(store, w.masterKey, ADDRESS);
      assert.ok(theirs.length >= 3, 'the other tenant holds the address in several tables');

      const account = await store.db
        .selectFrom('accounts')
        .select('id')
        .where('client_id', '=', w.tenant.clientId)
        .where('domain', '=', SENDER_DOMAIN)
        .executeTakeFirstOrThrow();
      accountId = account.id;
      await insertWebhook(store.db, {
        id: randomUUID(),
        account_id: accountId,
        url: 'https://hooks.example/x',
        events: JSON.stringify(WEBHOOK_EVENT_TYPES),
        secret_sealed: 'unused',
        previous_secret_sealed: null,
        previous_secret_until: null,
        state: 'active',
        failing_since: null,
        last_error: null,
        last_success_at: null,
        disabled_at: null,
        created_at: 1,
        updated_at: 1,
      });

      const send = async (recipients: string[], headers: Record<string, string>) => {
        const r = await w.submit({
          sender: `news@${SENDER_DOMAIN}`,
          recipients,
          message: mime(headers),
        });
        assert.equal(r.statusCode, 202, r.body);
        return r.json() as { id: string; recipients: Array<{ id?: string; address: string }> };
      };
      // Delivered, to the address alone.
      firstId = (await send([ADDRESS], { To: ADDRESS, Subject: 'Your order' })).id;
      // Delivered to two; later a bounce report (hard) for the address: bounced, suppressed.
      const both = await send(['JAN@Example.nl', 'piet@example.nl'], { Subject: 'Newsletter' });
      await w.drain();
      // Refused as insecure (the MX loses STARTTLS): a notification to the account names him.
      await w.addMx('example.nl', '127.0.0.2', { insecure: true });
      await send([ADDRESS], { To: ADDRESS, Subject: 'Insecure' });
      await w.drain();
      // Still queued when the erasure comes: cancelled, never sent.
      const queued = await send([ADDRESS], { To: ADDRESS, Subject: 'Never sent' });
      queuedId = queued.id;
      const jan = await store.db
        .selectFrom('recipients')
        .select('id')
        .where('message_id', '=', both.id)
        .where('address', '=', 'JAN@example.nl')
        .executeTakeFirstOrThrow();
      const bounceDomain = `${w.account.bounce_subdomain}.${SENDER_DOMAIN}`;
      const verp = `bounce+${jan.id}@${bounceDomain}`;
      await receiveMessage(
        store.db,
        {
          mailFrom: '',
          recipients: [{ address: verp, accountIds: [accountId] }],
          remoteAddress: '192.0.2.9',
          helo: 'mail.remote.example',
          raw: fixture('postfix-failed.eml', { recipient: 'JAN@example.nl', verp }),
          size: 2000,
          oversized: false,
          receivedAt: w.clock.now,
        },
        { masterKey: w.masterKey, keepBytes: 65536 },
      );
      // An out-of-office from the person (kept as a row, its content not).
      await receiveMessage(
        store.db,
        {
          mailFrom: ADDRESS,
          recipients: [{ address: verp, accountIds: [accountId] }],
          remoteAddress: '192.0.2.9',
          helo: 'mail.remote.example',
          raw: fixture('out-of-office.eml', { recipient: ADDRESS, verp }),
          size: 2000,
          oversized: false,
          receivedAt: w.clock.now,
        },
        { masterKey: w.masterKey, keepBytes: 65536 },
      );
      reportBefore = (
        await get(`/account/report?domain=${SENDER_DOMAIN}&from=${period().from}&to=${period().to}`)
      ).json();
    });
    after(async () => {
      await w.close();
      await store.close();
    });

    test('access: everything about the address, any case, as JSON', async () => {
      const response = await get(
        `/account/data-subject?domain=${SENDER_DOMAIN}&address=${encodeURIComponent('JAN@example.NL')}`,
      );
      assert.equal(response.statusCode, 200, response.body);
      const body = response.json();
      assert.equal(body.address, ADDRESS);
      const subjects = body.messages.map((m: { subject: string | null }) => m.subject);
      for (const s of ['Your order', 'Newsletter', 'Insecure', 'Never sent']) {
        assert.ok(subjects.includes(s), `${s} in ${subjects}`);
      }
      // The notification to the account names him: it is there, as a message naming him.
      assert.ok(
        body.messages.some(
          (m: { kind: string; role: string[] }) =>
            m.kind === 'notification' && m.role.includes('named'),
        ),
      );
      const newsletter = body.messages.find((m: { subject: string }) => m.subject === 'Newsletter');
      assert.deepEqual(
        newsletter.recipients.map((r: { address: string }) => r.address),
        ['JAN@example.nl'],
        'only his own recipient row of a message to several',
      );
      assert.equal(newsletter.recipients[0].status, 'bounced');
      assert.ok(newsletter.recipients[0].attempt_history[0].evidence.hosts.length > 0);
      const queued = body.messages.find((m: { id: string }) => m.id === queuedId);
      assert.equal(queued.body_kept, true, 'a body still kept is returned');
      assert.match(queued.body, /Never sent/);
      assert.equal(body.suppressions.length, 1);
      assert.equal(body.suppressions[0].reason, 'hard_bounce');
      assert.deepEqual(body.bounces.map((b: { kind: string }) => b.kind).sort(), [
        'auto_reply',
        'dsn',
      ]);
      assert.ok(
        body.bounces
          .find((b: { kind: string }) => b.kind === 'dsn')
          .content.includes('JAN@example.nl'),
      );
      assert.ok(body.webhook_events.length >= 3, 'delivered, bounced, refused events');
    });

    test('both requests are tenant-scoped: another tenant gets 404 for this domain', async () => {
      for (const method of ['GET', 'DELETE'] as const) {
        const response = await w.app.inject({
          method,
          url: `/account/data-subject?domain=${SENDER_DOMAIN}&address=${ADDRESS}`,
          headers: other.auth,
        });
        assert.equal(response.statusCode, 404);
        assert.equal(response.json().name, 'account_not_found');
      }
      const own = await get(`/account/data-subject?domain=other.nl&address=${ADDRESS}`, other);
      assert.equal(own.statusCode, 200);
      assert.equal(own.json().messages.length, 1, 'only its own message');
      const bad = await get(`/account/data-subject?domain=${SENDER_DOMAIN}&address=jan`);
      assert.equal(bad.statusCode, 400);
    });

    test('erasure: queued mail cancelled, every table free of the address but the other tenant', async () => {
      // The walk sees the address where this account keeps it, in clear and sealed.
      const held = new Set(
        (await walkForAddress(store, w.masterKey, ADDRESS)).map((o) => `${o.table}.${o.column}`),
      );
      for (const column of [
        'recipients.address',
        'recipients.detail',
        'attempts.evidence_json',
        'messages.response_json',
        'messages.body_sealed',
        'messages.subject_sealed',
        'inbound_messages.raw_sealed',
        'inbound_messages.report_json',
        'inbound_messages.mail_from',
        'webhook_events.payload',
        'suppressions.address',
      ]) {
        assert.ok(held.has(column), `the address is in ${column} before the erasure`);
      }
      const response = await w.app.inject({
        method: 'DELETE',
        url: `/account/data-subject?domain=${SENDER_DOMAIN}&address=${ADDRESS}`,
        headers: w.tenant.auth,
      });
      assert.equal(response.statusCode, 200, response.body);
      const result = response.json();
      assert.equal(result.cancelled, 1);
      assert.equal(result.still_suppressed, true);
      assert.equal(result.notification_address_kept, false);
      assert.equal(result.rows.recipients, 4);
      assert.ok(result.rows.attempts >= 3);
      assert.equal(result.rows.inbound_messages, 2);
      assert.equal(result.rows.suppressions, 1);
      assert.ok(result.rows.webhook_events >= 3);

      // Every table and column, sealed ones opened: only the other tenant's rows, unchanged.
      const left = await walkForAddress(store, w.masterKey, ADDRESS);
      assert.deepEqual(
        left.map((o) => `${o.table}.${o.column} ${o.row}`).sort(),
        theirs.map((o) => `${o.table}.${o.column} ${o.row}`).sort(),
      );

      // The queued one was never sent, and no worker will try it.
      const cancelled = await store.db
        .selectFrom('recipients')
        .selectAll()
        .where('message_id', '=', queuedId)
        .executeTakeFirstOrThrow();
      assert.equal(cancelled.status, 'failed');
      assert.equal(cancelled.reason, 'erasure-requested');
      assert.equal(cancelled.address, '[erased]@example.nl');
      assert.equal(await w.drain(), 0);

      // The erasure is recorded, without the address.
      const records = await store.db.selectFrom('erasures').selectAll().execute();
      assert.equal(records.length, 1);
      assert.equal(records[0]!.client_id, w.tenant.clientId);
      assert.equal(records[0]!.requested_via, 'api');
      assert.equal(JSON.parse(records[0]!.counts_json).recipients, 4);

      // Asking again finds nothing more.
      const again = await get(`/account/data-subject?domain=${SENDER_DOMAIN}&address=${ADDRESS}`);
      assert.equal(again.json().messages.length, 0);
      assert.equal(again.json().suppressions.length, 1, 'still suppressed, as a keyed digest');
    });

    test('after erasure the address stays suppressed, for this account only', async () => {
      const mine = await w.submit({
        sender: `news@${SENDER_DOMAIN}`,
        recipients: ['Jan@example.nl'],
        message: mime({ Subject: 'Again' }),
      });
      assert.equal(mine.statusCode, 202);
      assert.equal(mine.json().recipients[0].status, 'suppressed');
      const theirsAgain = await w.app.inject({
        method: 'POST',
        url: '/message',
        headers: other.auth,
        payload: {
          sender: 'news@other.nl',
          recipients: [ADDRESS],
          message: mime({ From: 'news@other.nl', Subject: 'Again' }),
        },
      });
      assert.equal(theirsAgain.json().recipients[0].status, 'queued');
      // The owner can still lift it with the address.
      const lifted = await w.app.inject({
        method: 'DELETE',
        url: `/account/suppressions?domain=${SENDER_DOMAIN}&address=${ADDRESS}`,
        headers: w.tenant.auth,
      });
      assert.equal(lifted.statusCode, 204);
    });

    test('a late bounce about an erased recipient counts, but nothing naming him is kept', async () => {
      const erased = await store.db
        .selectFrom('recipients')
        .selectAll()
        .where('message_id', '=', firstId)
        .executeTakeFirstOrThrow();
      assert.equal(erased.status, 'delivered');
      const verp = `bounce+${erased.id}@${w.account.bounce_subdomain}.${SENDER_DOMAIN}`;
      const [received] = await receiveMessage(
        store.db,
        {
          mailFrom: '',
          recipients: [{ address: verp, accountIds: [accountId] }],
          remoteAddress: '192.0.2.9',
          helo: 'mail.remote.example',
          raw: fixture('postfix-failed.eml', { recipient: ADDRESS, verp }),
          size: 2000,
          oversized: false,
          receivedAt: w.clock.now,
        },
        { masterKey: w.masterKey, keepBytes: 65536 },
      );
      assert.equal(received!.kind, 'dsn');
      const after = await store.db
        .selectFrom('recipients')
        .selectAll()
        .where('id', '=', erased.id)
        .executeTakeFirstOrThrow();
      assert.equal(after.status, 'bounced', 'the state (and so the counts) follow the report');
      const kept = await store.db
        .selectFrom('inbound_messages')
        .selectAll()
        .where('id', '=', received!.id)
        .executeTakeFirstOrThrow();
      assert.equal(kept.raw_sealed, null);
      assert.equal(kept.report_json, null);
      const left = await walkForAddress(store, w.masterKey, ADDRESS);
      // (The message of the test before, sent after the erasure, names him: that is new.)
      assert.ok(
        left.every((o) => !o.row.includes(erased.id) && !o.row.includes(received!.id)),
        'nothing about the erased recipient names him again',
      );
    });

    test("the report's counts stay right after the erasure", async () => {
      const after = (
        await get(`/account/report?domain=${SENDER_DOMAIN}&from=${period().from}&to=${period().to}`)
      ).json();
      for (const key of [
        'attempts',
        'messages_attempted',
        'recipients_attempted',
        'refused_insecure',
      ]) {
        assert.deepEqual(after[key], reportBefore[key], key);
      }
      assert.deepEqual(after.delivered.by_method, reportBefore.delivered.by_method);
      // One more bounce: the late report about the erased recipient, counted all the same.
      assert.equal(
        after.bounced.reported_after_delivery,
        reportBefore.bounced.reported_after_delivery + 1,
      );
      assert.equal(after.erasures, 1);
    });
  });
}
