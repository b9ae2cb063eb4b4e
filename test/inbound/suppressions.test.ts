import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { applyBounce, isHardBounce } from '../../src/inbound/apply-bounce.ts';
import { loadWebhookConfig } from '../../src/notify/settings.ts';
import { filterSuppressed } from '../../src/recipients/suppression.ts';
import { dialects } from '../support/db.ts';
import { type FeedbackApp, startFeedbackApp, type TestTenant } from '../webhooks/support.ts';
import {
  type FeedbackStore,
  makeAccount,
  makeMessage,
  openFeedbackStore,
  recipientRow,
} from './support.ts';

for (const dialect of dialects()) {
  describe(`suppression list (${dialect.name})`, () => {
    let fs: FeedbackStore;
    let api: FeedbackApp;
    let tenant: TestTenant;
    let otherTenant: TestTenant;

    before(async () => {
      fs = await openFeedbackStore(dialect);
      api = await startFeedbackApp(fs.store, {
        webhookConfig: loadWebhookConfig({}),
        lookup: async () => ['127.0.0.1'],
      });
      tenant = await api.tenant();
      otherTenant = await api.tenant();
      await makeAccount(fs.store, 'example.nl', { clientId: tenant.clientId });
    });
    after(async () => {
      await api.close();
      await fs.close();
    });

    const call = (
      method: 'GET' | 'POST' | 'DELETE',
      url: string,
      who: TestTenant,
      payload?: object,
    ) => api.app.inject({ method, url, headers: who.auth, ...(payload ? { payload } : {}) });

    it('adds, lists (paged) and removes entries', async () => {
      const added = await call('POST', '/account/suppressions?domain=example.nl', tenant, {
        address: 'Jan@Remote.Example',
        detail: 'asked to stop',
      });
      assert.equal(added.statusCode, 201, added.body);
      assert.equal(added.json().address, 'jan@remote.example');
      assert.equal(added.json().reason, 'manual');
      const again = await call('POST', '/account/suppressions?domain=example.nl', tenant, {
        address: 'jan@remote.example',
      });
      assert.equal(again.statusCode, 200);
      await call('POST', '/account/suppressions?domain=example.nl', tenant, {
        address: 'a@remote.example',
      });

      const page1 = await call('GET', '/account/suppressions?domain=example.nl&limit=1', tenant);
      assert.equal(page1.statusCode, 200, page1.body);
      assert.deepEqual(
        page1.json().suppressions.map((s: { address: string }) => s.address),
        ['a@remote.example'],
      );
      const page2 = await call(
        'GET',
        `/account/suppressions?domain=example.nl&limit=1&after=${page1.json().next_after}`,
        tenant,
      );
      assert.deepEqual(
        page2.json().suppressions.map((s: { address: string }) => s.address),
        ['jan@remote.example'],
      );

      const removed = await call(
        'DELETE',
        '/account/suppressions?domain=example.nl&address=JAN@remote.example',
        tenant,
      );
      assert.equal(removed.statusCode, 204);
      const missing = await call(
        'DELETE',
        '/account/suppressions?domain=example.nl&address=jan@remote.example',
        tenant,
      );
      assert.equal(missing.statusCode, 404);
      assert.equal(missing.json().name, 'suppression_not_found');
    });

    it('validates addresses and keeps tenants apart', async () => {
      const bad = await call('POST', '/account/suppressions?domain=example.nl', tenant, {
        address: 'not-an-address',
      });
      assert.equal(bad.statusCode, 400);
      assert.equal(bad.json().name, 'validation_failed');
      const foreign = await call('GET', '/account/suppressions?domain=example.nl', otherTenant);
      assert.equal(foreign.statusCode, 404);
      assert.equal(foreign.json().name, 'account_not_found');
    });

    it('filterSuppressed finds listed addresses case-insensitively, as given', async () => {
      const account = await makeAccount(fs.store, 'filter.example');
      const [r] = await makeMessage(fs.db, account, ['Bad@Remote.Example'], 'delivered');
      await applyBounce(fs.db, {
        recipientId: r!.id,
        action: 'failed',
        status: '5.1.1',
        diagnostic: '550 5.1.1 no such user',
        reportingMta: 'mx.remote.example',
        at: 2_000,
      });
      const found = await filterSuppressed(fs.db, account.accountId, [
        'BAD@remote.example',
        'good@remote.example',
      ]);
      assert.deepEqual([...found], ['BAD@remote.example']);
      assert.deepEqual([...(await filterSuppressed(fs.db, account.accountId, []))], []);
      const other = await makeAccount(fs.store, 'unrelated.example');
      assert.equal(
        (await filterSuppressed(fs.db, other.accountId, ['bad@remote.example'])).size,
        0,
      );
    });

    it('refuses a webhook URL that reaches a private address', async () => {
      const put = await api.app.inject({
        method: 'PUT',
        url: '/account/webhook?domain=example.nl',
        headers: tenant.auth,
        payload: { url: 'https://hooks.example.nl/h' },
      });
      assert.equal(put.statusCode, 400);
      assert.equal(put.json().name, 'webhook_url_refused');
      assert.equal(put.json().field, 'url');
      assert.match(put.json().message, /127\.0\.0\.1, a loopback address/);
      const http = await api.app.inject({
        method: 'PUT',
        url: '/account/webhook?domain=example.nl',
        headers: tenant.auth,
        payload: { url: 'http://93.184.216.34/h' },
      });
      assert.equal(http.statusCode, 400);
    });
  });

  describe(`applyBounce (${dialect.name})`, () => {
    let fs: FeedbackStore;
    before(async () => {
      fs = await openFeedbackStore(dialect);
    });
    after(() => fs.close());

    const failed = (recipientId: string, status = '5.1.1') => ({
      recipientId,
      action: 'failed' as const,
      status,
      diagnostic: `550 ${status} gone`,
      reportingMta: 'mx.remote.example',
      at: 5_000,
    });

    it('turns delivered into bounced, but leaves other final states alone', async () => {
      const account = await makeAccount(fs.store, 'apply.example');
      const [delivered, refused, queued] = await Promise.all(
        (['delivered', 'refused_insecure', 'queued'] as const).map(
          async (s) => (await makeMessage(fs.db, account, [`${s}@r.example`], s))[0]!,
        ),
      );
      assert.equal((await applyBounce(fs.db, failed(delivered!.id))).outcome, 'bounced');
      assert.equal((await applyBounce(fs.db, failed(refused!.id))).outcome, 'ignored_final');
      assert.equal((await applyBounce(fs.db, failed(queued!.id))).outcome, 'bounced');
      assert.equal((await recipientRow(fs.db, refused!.id)).status, 'refused_insecure');
      const bounced = await recipientRow(fs.db, queued!.id);
      assert.deepEqual(
        [bounced.status, bounced.final_at, bounced.lease_owner],
        ['bounced', 5_000, null],
      );
      // A second report about a bounced recipient changes nothing.
      assert.equal((await applyBounce(fs.db, failed(delivered!.id))).outcome, 'ignored_final');
      assert.equal(
        (await applyBounce(fs.db, failed('00000000-0000-4000-8000-000000000000'))).outcome,
        'not_found',
      );
    });

    it('does not suppress the address of a bounced notification', async () => {
      const account = await makeAccount(fs.store, 'notify.example');
      const [r] = await makeMessage(
        fs.db,
        account,
        ['ops@notify.example'],
        'delivered',
        'notification',
      );
      const result = await applyBounce(fs.db, failed(r!.id));
      assert.equal(result.outcome, 'bounced');
      assert.equal(result.suppressed, false);
    });
  });
}

describe('isHardBounce', () => {
  it('is about the address: 5.1.x and 5.2.1', () => {
    for (const s of ['5.1.1', '5.1.10', '5.1.2', '5.2.1']) assert.equal(isHardBounce(s), true, s);
    for (const s of ['5.7.1', '5.2.2', '4.1.1', '5.0.0', null])
      assert.equal(isHardBounce(s), false, String(s));
  });
});
