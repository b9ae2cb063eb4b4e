import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { Tenant } from '../support/app.ts';
import { dialects, type TestStore } from '../support/db.ts';
import { TestDnsServer } from '../support/dns-server.ts';
import {
  createAccount,
  type OnboardingApp,
  publishAll,
  startOnboardingApp,
  verify,
  verifyView,
} from './support.ts';

for (const dialect of dialects()) {
  describe(`domain onboarding over the API (${dialect.name})`, () => {
    let store: TestStore;
    let dns: TestDnsServer;
    let t: OnboardingApp;
    let tenant: Tenant;

    before(async () => {
      store = await dialect.open();
      dns = await TestDnsServer.start();
      t = await startOnboardingApp(store, dns);
      tenant = await t.tenant('shop');
    });
    beforeEach(() => dns.reset());
    after(async () => {
      await t?.close();
      await dns?.close();
      await store?.close();
    });

    test('POST /account returns every record to publish, all pending', async () => {
      const view = await createAccount(t, tenant, 'example.com');
      assert.equal(view.domain.state, 'unverified');
      assert.deepEqual(
        view.receiving_dns_records.mx.map((r) => [
          r.hostname,
          r.type,
          r.value,
          r.priority,
          r.status,
        ]),
        [
          ['bounce.example.com', 'MX', 'mx1.platform.test', 10, 'pending'],
          ['bounce.example.com', 'MX', 'mx2.platform.test', 20, 'pending'],
        ],
      );
      const { spf, dkim, dmarc, ses } = view.sending_dns_records;
      assert.deepEqual(
        [spf.hostname, spf.type, spf.value],
        ['bounce.example.com', 'TXT', 'v=spf1 include:spf.platform.test ~all'],
      );
      assert.equal(dkim.length, 2);
      const [rsa, ed] = dkim;
      assert.match(rsa!.hostname, /^sm\d{6}-[0-9a-f]{4}-rsa\._domainkey\.example\.com$/);
      assert.match(rsa!.value, /^v=DKIM1; k=rsa; p=MIIBIjAN[A-Za-z0-9+/=]+$/);
      assert.match(ed!.hostname, /^sm\d{6}-[0-9a-f]{4}-ed\._domainkey\.example\.com$/);
      assert.match(ed!.value, /^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$/);
      assert.equal(dmarc.hostname, '_dmarc.example.com');
      assert.equal(dmarc.value, 'v=DMARC1; p=none; rua=mailto:ops@example.com');
      assert.equal(ses.hostname, '_securemail.example.com');
      assert.match(ses.value, /^securemail-verification=[A-Za-z0-9_-]{32}$/);
      for (const r of [spf, dmarc, ses, ...dkim]) assert.equal(r.status, 'pending');
      assert.equal(view.verification.last_checked_at, null);
      assert.equal(view.verification.next_check_at, '2026-11-28T12:02:00.000Z');
    });

    test('full path: nothing published, then everything, gives valid', async () => {
      const created = await createAccount(t, tenant, 'shop-example.nl');
      const first = await verifyView(t, tenant, 'shop-example.nl');
      assert.equal(first.domain.state, 'unverified');
      assert.equal(first.verification.last_outcome, 'invalid');
      assert.equal(first.sending_dns_records.ses.status, 'failed');
      assert.equal(
        first.sending_dns_records.ses.detail,
        '_securemail.shop-example.nl does not exist in DNS.',
      );

      publishAll(dns, created);
      const valid = await verifyView(t, tenant, 'shop-example.nl');
      assert.equal(valid.domain.state, 'valid');
      assert.equal(valid.verification.last_outcome, 'valid');
      const all = [
        ...valid.receiving_dns_records.mx,
        ...valid.sending_dns_records.dkim,
        valid.sending_dns_records.spf,
        valid.sending_dns_records.ses,
        valid.sending_dns_records.dmarc,
      ];
      for (const r of all) assert.equal(r.status, 'success', `${r.hostname} ${r.detail}`);
      // GET shows the stored result.
      const got = await t.app.inject({
        method: 'GET',
        url: '/account?domain=shop-example.nl',
        headers: tenant.auth,
      });
      assert.equal(got.json().domain.state, 'valid');
      assert.equal(got.json().sending_dns_records.spf.status, 'success');
    });

    test('another tenant cannot verify or rotate the account: 404', async () => {
      await createAccount(t, tenant, 'private-example.nl');
      const other = await t.tenant('other');
      const response = await verify(t, other, 'private-example.nl');
      assert.equal(response.statusCode, 404);
      assert.equal(response.json().name, 'account_not_found');
      const rotate = await t.app.inject({
        method: 'POST',
        url: '/account/dkim/rotate?domain=private-example.nl',
        headers: other.auth,
      });
      assert.equal(rotate.statusCode, 404);
    });
  });
}
