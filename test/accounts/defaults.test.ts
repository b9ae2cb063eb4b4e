// Defaults that work: the records handed to an account owner with the service's defaults
// (SECUREMAIL_HOSTNAME=localhost) are marked as unusable instead of handed out silently, and
// the suggested DMARC record starts with monitoring (p=none with a report address).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  dmarcAdvice,
  dmarcValue,
  isLocalOnlyHost,
  platformWarnings,
} from '../../src/accounts/dns-records.ts';
import { loadConfig } from '../../src/config.ts';
import type { Account } from '../../src/store/schema.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { dialects, type TestStore } from '../support/db.ts';

const account = (notification: string): Account => ({
  id: 'a',
  client_id: 'c',
  domain: 'shop.nl',
  notification_email: notification,
  state: 'unverified',
  bounce_subdomain: 'bounce',
  policy_level: 'verified',
  ownership_token: 't',
  created_at: 0,
  updated_at: 0,
});

test('local-only host names: localhost, under localhost or invalid, single labels', () => {
  for (const name of ['localhost', 'mx1.localhost', 'LOCALHOST.', 'mail', 'mx.invalid']) {
    assert.equal(isLocalOnlyHost(name), true, name);
  }
  for (const name of ['mx1.platform.example', 'localhost.example.nl', 'platform.test']) {
    assert.equal(isLocalOnlyHost(name), false, name);
  }
});

test('the defaults name the settings to change; a real set-up has no warning', () => {
  const defaults = loadConfig({ SECUREMAIL_DATA_DIR: '/nonexistent' });
  const warnings = platformWarnings(defaults);
  assert.match(warnings.hostname ?? '', /^SECUREMAIL_HOSTNAME is "localhost"/);
  assert.match(warnings.mx ?? '', /^mx1\.localhost and mx2\.localhost cannot receive bounces/);
  assert.match(warnings.mx ?? '', /SECUREMAIL_MX_HOSTS/);
  assert.match(warnings.spf ?? '', /^a:localhost authorizes no sending address/);
  assert.match(warnings.spf ?? '', /SECUREMAIL_SPF_INCLUDE or SECUREMAIL_SPF_IPS/);

  const real = loadConfig({
    SECUREMAIL_DATA_DIR: '/nonexistent',
    SECUREMAIL_HOSTNAME: 'mail.platform.example',
  });
  assert.deepEqual(platformWarnings(real), {});
  // An include makes the SPF record work even while the host name is still local.
  const included = loadConfig({
    SECUREMAIL_DATA_DIR: '/nonexistent',
    SECUREMAIL_MX_HOSTS: 'mx1.platform.example,mx2.platform.example',
    SECUREMAIL_SPF_INCLUDE: 'spf.platform.example',
  });
  assert.deepEqual(Object.keys(platformWarnings(included)), ['hostname']);
});

test('DMARC: p=none with a report address first, and how to move on from there', () => {
  const config = loadConfig({ SECUREMAIL_DATA_DIR: '/nonexistent' });
  assert.equal(
    dmarcValue(account('ops@shop.nl'), config),
    'v=DMARC1; p=none; rua=mailto:ops@shop.nl',
  );
  // A notification address elsewhere would need that domain's consent: a mailbox in the
  // domain instead, which the advice says to create.
  assert.equal(
    dmarcValue(account('owner@gmail.example'), config),
    'v=DMARC1; p=none; rua=mailto:dmarc-reports@shop.nl',
  );
  assert.match(dmarcAdvice(account('owner@gmail.example'), config), /create that mailbox/);
  const withRua = loadConfig({
    SECUREMAIL_DATA_DIR: '/nonexistent',
    SECUREMAIL_DMARC_RUA: 'r@reports.example',
  });
  assert.equal(
    dmarcValue(account('ops@shop.nl'), withRua),
    'v=DMARC1; p=none; rua=mailto:r@reports.example',
  );
  const advice = dmarcAdvice(account('ops@shop.nl'), config);
  assert.match(advice, /change p=none to p=quarantine/);
  assert.match(advice, /p=reject/);
  assert.match(advice, /can send legitimate mail of yours that is not yet set up to spam/);
});

for (const dialect of dialects()) {
  describe(`records with the default host name (${dialect.name})`, () => {
    let store: TestStore;
    let t: TestApp;
    before(async () => {
      store = await dialect.open();
      t = await startTestApp(store);
    });
    after(async () => {
      await t.close();
      await store.close();
    });

    test('POST /account marks the MX and SPF records that cannot work', async () => {
      const tenant = await t.tenant();
      const created = await t.app.inject({
        method: 'POST',
        url: '/account',
        headers: tenant.auth,
        payload: { domain: 'shop.nl', notification_email: 'ops@shop.nl' },
      });
      assert.equal(created.statusCode, 201, created.body);
      const view = created.json();
      const [mx1, mx2] = view.receiving_dns_records.mx;
      assert.equal(mx1.value, 'mx1.localhost');
      assert.match(mx1.warning, /cannot receive bounces/);
      assert.match(mx2.warning, /do not publish this record until then/);
      assert.equal(view.sending_dns_records.spf.value, 'v=spf1 a:localhost ~all');
      assert.match(
        view.sending_dns_records.spf.warning,
        /^a:localhost authorizes no sending address/,
      );
      for (const r of [
        view.sending_dns_records.dmarc,
        view.sending_dns_records.ses,
        ...view.sending_dns_records.dkim,
      ]) {
        assert.equal(r.warning, undefined, r.hostname);
      }
    });
  });
}
