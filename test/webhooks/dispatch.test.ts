import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { loadWebhookConfig, type WebhookConfig } from '../../src/notify/settings.ts';
import {
  dispatchWebhooksOnce,
  startWebhookDispatcher,
  type WebhookDispatcherDeps,
} from '../../src/notify/webhook-dispatcher.ts';
import { SIGNATURE_HEADER, verifySignature } from '../../src/notify/webhook-signing.ts';
import { recordDomainEvent, recordRecipientEvent } from '../../src/outbox/webhook-events.ts';
import { openNotice } from '../../src/secrets/sealed-content.ts';
import { listWebhookEvents } from '../../src/store/webhooks.repository.ts';
import {
  type FeedbackStore,
  makeAccount,
  makeMessage,
  openFeedbackStore,
  type TestAccount,
} from '../inbound/support.ts';
import { clearCopies } from '../support/at-rest.ts';
import { dialects } from '../support/db.ts';
import { type FeedbackApp, startFeedbackApp, type TestTenant, WebhookReceiver } from './support.ts';

const HOOK_HOST = 'hooks.receiver.test';
const HOUR = 3_600_000;

for (const dialect of dialects()) {
  describe(`webhook delivery (${dialect.name})`, () => {
    let fs: FeedbackStore;
    let api: FeedbackApp;
    let receiver: WebhookReceiver;
    let config: WebhookConfig;
    let tenant: TestTenant;
    let account: TestAccount;
    let secret: string;
    let domainCounter = 0;

    const deps = (): WebhookDispatcherDeps => ({
      db: fs.db,
      masterKey: api.masterKey,
      config,
      // The receiver's name resolves to loopback: allowed here by SECUREMAIL_WEBHOOK_ALLOW_PRIVATE.
      lookup: async () => ['127.0.0.1'],
      ca: receiver.ca.pem,
      now: () => api.clock.now,
      random: () => 1,
    });

    /** Runs passes until nothing is due now. */
    async function drain(): Promise<void> {
      for (let i = 0; i < 20; i++) {
        const s = await dispatchWebhooksOnce(deps());
        if (s.delivered + s.retrying + s.failed + s.dropped === 0) return;
      }
    }

    async function event(
      recipientId: string,
      messageId: string,
      status: 'deferred' | 'bounced' | 'delivered' | 'expired',
    ) {
      await fs.db.transaction().execute((trx) =>
        recordRecipientEvent(trx, {
          accountId: account.accountId,
          messageId,
          recipientId,
          address: 'r@remote.example',
          status,
          reason: status === 'bounced' ? 'remote-bounce' : null,
          detail: `${status} detail`,
          at: api.clock.now,
        }),
      );
    }

    before(async () => {
      fs = await openFeedbackStore(dialect);
      config = {
        ...loadWebhookConfig({ SECUREMAIL_WEBHOOK_ALLOW_PRIVATE: 'true' }),
        disableAfterHours: 2,
      };
      api = await startFeedbackApp(fs.store, {
        webhookConfig: config,
        lookup: async () => ['127.0.0.1'],
      });
      receiver = await WebhookReceiver.start(HOOK_HOST);
    });
    after(async () => {
      await receiver.close();
      await api.close();
      await fs.close();
    });
    beforeEach(async () => {
      receiver.deliveries.length = 0;
      receiver.statuses.length = 0;
      receiver.fallbackStatus = 200;
      receiver.statusFor = undefined;
      // A new tenant (and token) per test: tests move the clock past token lifetimes.
      tenant = await api.tenant();
      account = await makeAccount(fs.store, `shop${++domainCounter}.example`, {
        clientId: tenant.clientId,
      });
      const put = await api.app.inject({
        method: 'PUT',
        url: `/account/webhook?domain=${account.domain}`,
        headers: tenant.auth,
        payload: { url: `https://${HOOK_HOST}:${receiver.port}/hooks?x=1` },
      });
      assert.equal(put.statusCode, 201, put.body);
      secret = put.json().secret;
      assert.match(secret, /^whsec_/);
    });

    it('posts signed events, in order per recipient, retrying with backoff', async () => {
      const [r1, r2] = await makeMessage(
        fs.db,
        account,
        ['a@remote.example', 'b@remote.example'],
        'queued',
      );
      await event(r1!.id, r1!.messageId, 'deferred');
      api.clock.now += 1;
      await event(r1!.id, r1!.messageId, 'bounced');
      await event(r2!.id, r2!.messageId, 'delivered');
      // r1's first event fails, whatever order the concurrent deliveries take.
      let failed = false;
      receiver.statusFor = (body) => {
        if (failed || JSON.parse(body).type !== 'deferred') return undefined;
        failed = true;
        return 500;
      };

      await drain();
      // r1's first event failed, so its second waits; r2's went through.
      const firstRound = receiver.deliveries.map((d) => JSON.parse(d.body));
      assert.equal(firstRound.length, 2);
      assert.deepEqual(
        firstRound.map((p) => [p.data.recipient_id, p.type]).sort(),
        [
          [r1!.id, 'deferred'],
          [r2!.id, 'delivered'],
        ].sort(),
      );
      // Backoff: nothing is due until the retry time (30 s with random = 1).
      api.clock.now += 29_000;
      await drain();
      assert.equal(receiver.deliveries.length, 2);
      api.clock.now += 2_000;
      await drain();

      const forR1 = receiver.deliveries
        .map((d) => JSON.parse(d.body))
        .filter((p) => p.data.recipient_id === r1!.id)
        .map((p) => p.type);
      assert.deepEqual(forR1, ['deferred', 'deferred', 'bounced']);

      const nowSeconds = Math.floor(api.clock.now / 1000);
      for (const delivery of receiver.deliveries) {
        const header = String(delivery.headers[SIGNATURE_HEADER]);
        assert.ok(verifySignature(header, delivery.body, secret, nowSeconds), header);
        assert.ok(!verifySignature(header, `${delivery.body} `, secret, nowSeconds));
        assert.equal(delivery.path, '/hooks?x=1');
        assert.equal(delivery.headers['content-type'], 'application/json');
        assert.equal(delivery.headers['securemail-event-id'], JSON.parse(delivery.body).id);
      }
      const body = JSON.parse(receiver.deliveries.at(-1)!.body);
      assert.equal(body.domain, account.domain);
      assert.equal(body.data.detail, 'bounced detail');
      const stored = await listWebhookEvents(fs.db, account.accountId);
      assert.ok(stored.every((e) => e.state === 'delivered'));
    });

    it('signs with both secrets during a rotation overlap, then only the new one', async () => {
      const rotate = await api.app.inject({
        method: 'POST',
        url: `/account/webhook/secret?domain=${account.domain}`,
        headers: tenant.auth,
      });
      assert.equal(rotate.statusCode, 200, rotate.body);
      const fresh = rotate.json().secret as string;
      assert.notEqual(fresh, secret);
      assert.ok(rotate.json().previous_secret_valid_until !== null);
      const shown = await api.app.inject({
        method: 'GET',
        url: `/account/webhook?domain=${account.domain}`,
        headers: tenant.auth,
      });
      assert.equal(shown.json().secret, undefined);

      const [r] = await makeMessage(fs.db, account, ['c@remote.example'], 'queued');
      await event(r!.id, r!.messageId, 'delivered');
      await drain();
      const during = receiver.deliveries.at(-1)!;
      const header = String(during.headers[SIGNATURE_HEADER]);
      const seconds = Math.floor(api.clock.now / 1000);
      assert.ok(verifySignature(header, during.body, secret, seconds));
      assert.ok(verifySignature(header, during.body, fresh, seconds));

      api.clock.now += config.secretOverlapHours * HOUR + 1;
      await event(r!.id, r!.messageId, 'bounced');
      await drain();
      const afterOverlap = receiver.deliveries.at(-1)!;
      const later = String(afterOverlap.headers[SIGNATURE_HEADER]);
      const laterSeconds = Math.floor(api.clock.now / 1000);
      assert.ok(verifySignature(later, afterOverlap.body, fresh, laterSeconds));
      assert.ok(!verifySignature(later, afterOverlap.body, secret, laterSeconds));
    });

    it('disables an endpoint that fails too long, drops its events and notifies the account', async () => {
      receiver.fallbackStatus = 503;
      const [r] = await makeMessage(fs.db, account, ['d@remote.example'], 'queued');
      await event(r!.id, r!.messageId, 'deferred');
      await drain();
      for (let i = 0; i < 3; i++) {
        api.clock.now += HOUR;
        await drain();
      }
      await tenant.refresh();
      const hook = await api.app.inject({
        method: 'GET',
        url: `/account/webhook?domain=${account.domain}`,
        headers: tenant.auth,
      });
      assert.equal(hook.json().state, 'disabled');
      assert.equal(hook.json().last_error, 'HTTP 503');
      const events = await listWebhookEvents(fs.db, account.accountId);
      assert.deepEqual(
        events.map((e) => e.state),
        ['dropped'],
      );
      const notes = await fs.db
        .selectFrom('account_notifications')
        .selectAll()
        .where('account_id', '=', account.accountId)
        .execute();
      assert.deepEqual(
        notes.map((n) => n.kind),
        ['webhook_disabled'],
      );
      assert.equal(notes[0]?.recipient, `ops@${account.domain}`);
      // Sealed at rest: it names the endpoint and the error it returned.
      assert.match(openNotice(api.masterKey, notes[0]!).body, /failed every delivery/);
      assert.deepEqual(await clearCopies(fs.store, 'failed every delivery'), []);

      // No new events while disabled; registering again re-enables.
      await event(r!.id, r!.messageId, 'bounced');
      assert.equal((await listWebhookEvents(fs.db, account.accountId)).length, 1);
      const again = await api.app.inject({
        method: 'PUT',
        url: `/account/webhook?domain=${account.domain}`,
        headers: tenant.auth,
        payload: { url: `https://${HOOK_HOST}:${receiver.port}/hooks`, events: ['bounced'] },
      });
      assert.equal(again.statusCode, 200);
      assert.equal(again.json().state, 'active');
      assert.equal(again.json().secret, undefined);
    });

    it('gives an event up after the retry window, and the next in line goes on', async () => {
      config.disableAfterHours = 1000;
      try {
        const [r] = await makeMessage(fs.db, account, ['e@remote.example'], 'queued');
        await event(r!.id, r!.messageId, 'deferred');
        api.clock.now += 1;
        await event(r!.id, r!.messageId, 'expired');
        receiver.fallbackStatus = 500;
        await drain();
        api.clock.now += config.retryHours * HOUR;
        receiver.fallbackStatus = 200;
        receiver.statuses.push(500);
        await drain();
        const events = await listWebhookEvents(fs.db, account.accountId);
        assert.deepEqual(
          events.map((e) => [e.type, e.state]),
          [
            ['deferred', 'failed'],
            ['expired', 'delivered'],
          ],
        );
      } finally {
        config.disableAfterHours = 2;
      }
    });

    it('sends only subscribed events, and domain state changes', async () => {
      await api.app.inject({
        method: 'PUT',
        url: `/account/webhook?domain=${account.domain}`,
        headers: tenant.auth,
        payload: {
          url: `https://${HOOK_HOST}:${receiver.port}/h`,
          events: ['domain_state_changed'],
        },
      });
      const [r] = await makeMessage(fs.db, account, ['f@remote.example'], 'queued');
      await event(r!.id, r!.messageId, 'delivered');
      await fs.db.transaction().execute((trx) =>
        recordDomainEvent(trx, {
          accountId: account.accountId,
          domain: account.domain,
          state: 'valid',
          at: api.clock.now,
        }),
      );
      await drain();
      assert.deepEqual(
        receiver.deliveries.map((d) => JSON.parse(d.body)).map((p) => [p.type, p.data.state]),
        [['domain_state_changed', 'valid']],
      );
    });

    it('delivers from a running dispatcher, durably from the outbox', async () => {
      const [r] = await makeMessage(fs.db, account, ['g@remote.example'], 'queued');
      await event(r!.id, r!.messageId, 'delivered');
      const dispatcher = startWebhookDispatcher({ ...deps(), config: { ...config, pollMs: 20 } });
      try {
        for (let i = 0; i < 200 && receiver.deliveries.length === 0; i++) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      } finally {
        await dispatcher.stop();
      }
      assert.equal(receiver.deliveries.length, 1);
    });

    it('does not trust the receiver without the test CA', async () => {
      const [r] = await makeMessage(fs.db, account, ['h@remote.example'], 'queued');
      await event(r!.id, r!.messageId, 'delivered');
      const { ca: _ca, ...untrusting } = deps();
      await dispatchWebhooksOnce(untrusting);
      assert.equal(receiver.deliveries.length, 0);
      const [stored] = await listWebhookEvents(fs.db, account.accountId);
      assert.equal(stored?.state, 'pending');
      assert.match(stored?.last_error ?? '', /certificate/i);
    });
  });
}
