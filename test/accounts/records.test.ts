// Each record missing or wrong, the hints for common mistakes, and semantic comparison,
// against the in-process DNS server.

import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { AccountView } from '../../src/accounts/accounts-service.ts';
import type { Tenant } from '../support/app.ts';
import { dialects, type TestStore } from '../support/db.ts';
import { TestDnsServer } from '../support/dns-server.ts';
import {
  createAccount,
  type OnboardingApp,
  publishAll,
  startOnboardingApp,
  verifyView,
} from './support.ts';

const [sqlite] = dialects();

describe('record checks', () => {
  let store: TestStore;
  let dns: TestDnsServer;
  let t: OnboardingApp;
  let tenant: Tenant;
  let counter = 0;

  before(async () => {
    store = await sqlite!.open();
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

  /** A new account with every record published, then `change` applied, then a check. */
  async function checkAfter(
    change: (view: AccountView, domain: string) => void,
  ): Promise<{ view: AccountView; created: AccountView; domain: string }> {
    const domain = `shop${++counter}.nl`;
    const created = await createAccount(t, tenant, domain);
    publishAll(dns, created);
    change(created, domain);
    return { view: await verifyView(t, tenant, domain), created, domain };
  }

  const rsaOf = (view: AccountView) => view.sending_dns_records.dkim[0]!;

  test('every record published: valid', async () => {
    const { view } = await checkAfter(() => {});
    assert.equal(view.domain.state, 'valid');
  });

  test('MX missing on the bounce subdomain', async () => {
    const { view, domain } = await checkAfter((_, d) => dns.remove(`bounce.${d}`, 'MX'));
    assert.equal(view.domain.state, 'unverified');
    for (const mx of view.receiving_dns_records.mx) {
      assert.equal(mx.status, 'failed');
      assert.equal(mx.detail, `bounce.${domain} has no MX record.`);
    }
    assert.equal(view.sending_dns_records.spf.status, 'success');
  });

  test('MX pointing elsewhere says what it found', async () => {
    const { view, domain } = await checkAfter((_, d) =>
      dns.set(`bounce.${d}`, [
        { type: 'MX', preference: 5, exchange: 'mx.other.net' },
        { type: 'MX', preference: 20, exchange: 'mx2.platform.test' },
      ]),
    );
    const [mx1, mx2] = view.receiving_dns_records.mx;
    assert.equal(mx1!.status, 'failed');
    assert.equal(
      mx1!.detail,
      `bounce.${domain} has MX 5 mx.other.net, 20 mx2.platform.test, but not mx1.platform.test.`,
    );
    assert.equal(mx2!.status, 'success');
    assert.equal(view.domain.state, 'unverified');
  });

  test('hint: MX records at the apex instead of the bounce subdomain', async () => {
    const { view, domain } = await checkAfter((created, d) => {
      dns.remove(`bounce.${d}`);
      dns.set(
        d,
        created.receiving_dns_records.mx.map((r) => ({
          type: 'MX' as const,
          preference: r.priority!,
          exchange: r.value,
        })),
      );
    });
    const detail = view.receiving_dns_records.mx[0]!.detail!;
    assert.match(detail, new RegExp(`^bounce\\.${domain} does not exist in DNS\\.`));
    assert.match(detail, new RegExp(`found at the apex ${domain} instead of bounce\\.${domain}`));
    assert.match(detail, /Do not point the apex MX at us/);
  });

  test('SPF missing, and the hint when it sits at the apex', async () => {
    const { view, domain } = await checkAfter((created, d) => {
      dns.remove(`bounce.${d}`, 'TXT');
      dns.set(d, [{ type: 'TXT', data: created.sending_dns_records.spf.value }]);
    });
    const spf = view.sending_dns_records.spf;
    assert.equal(spf.status, 'failed');
    assert.match(spf.detail!, new RegExp(`^bounce\\.${domain} has no TXT record\\.`));
    assert.match(spf.detail!, /found at the apex/);
    assert.equal(view.domain.state, 'unverified');
  });

  test('hint: two v=spf1 records', async () => {
    const { view, domain } = await checkAfter((_, d) =>
      dns.add(`bounce.${d}`, { type: 'TXT', data: 'v=spf1 include:mail.example.net -all' }),
    );
    const spf = view.sending_dns_records.spf;
    assert.equal(spf.status, 'failed');
    assert.match(spf.detail!, new RegExp(`^bounce\\.${domain} has 2 SPF \\(v=spf1\\) records`));
    assert.match(spf.detail!, /merge them into one record/);
  });

  test('SPF without our include says what is lacking', async () => {
    const { view } = await checkAfter((_, d) =>
      dns.set(`bounce.${d}`, [{ type: 'TXT', data: 'v=spf1 ip4:192.0.2.1 ~all' }]),
    );
    assert.equal(
      view.sending_dns_records.spf.detail,
      `Found "v=spf1 ip4:192.0.2.1 ~all" at bounce.${view.domain.name}, but it lacks include:spf.platform.test.`,
    );
  });

  test('SPF that lets anyone send is refused', async () => {
    const { view } = await checkAfter((_, d) =>
      dns.set(`bounce.${d}`, [{ type: 'TXT', data: 'v=spf1 include:spf.platform.test ?all' }]),
    );
    assert.match(view.sending_dns_records.spf.detail!, /"\?all" lets anyone send/);
  });

  test('SPF compared semantically: split strings, order, case, extra terms, -all', async () => {
    const { view } = await checkAfter((_, d) =>
      dns.set(`bounce.${d}`, [
        { type: 'TXT', data: ['v=spf1   ip4:192.0.2.1 ', ' +INCLUDE:spf.platform.test   -all'] },
        { type: 'TXT', data: 'some-other-verification=1' },
      ]),
    );
    assert.equal(view.sending_dns_records.spf.status, 'success');
    assert.equal(view.domain.state, 'valid');
  });

  test('DKIM missing', async () => {
    const { view } = await checkAfter((created) => dns.remove(rsaOf(created).hostname, 'TXT'));
    const rsa = rsaOf(view);
    assert.equal(rsa.status, 'failed');
    assert.equal(rsa.detail, `${rsa.hostname} does not exist in DNS.`);
    assert.equal(view.sending_dns_records.dkim[1]!.status, 'success');
    assert.equal(view.domain.state, 'unverified');
  });

  test('DKIM compared semantically: tag order, whitespace in p=, split strings', async () => {
    const { view } = await checkAfter((created) => {
      const rsa = rsaOf(created);
      const key = rsa.value.split('p=')[1]!;
      const spaced = `${key.slice(0, 100)} ${key.slice(100, 200)}\t${key.slice(200)}`;
      dns.set(rsa.hostname, [
        {
          type: 'TXT',
          data: [`p=${spaced.slice(0, 150)}`, `${spaced.slice(150)};k=rsa ;  v=DKIM1`],
        },
      ]);
    });
    assert.equal(rsaOf(view).status, 'success');
    assert.equal(view.domain.state, 'valid');
  });

  test('DKIM key cut off, different key, wrong algorithm', async () => {
    const { view } = await checkAfter((created) => {
      const [rsa, ed] = created.sending_dns_records.dkim;
      dns.set(rsa!.hostname, [{ type: 'TXT', data: rsa!.value.slice(0, 255) }]);
      dns.set(ed!.hostname, [{ type: 'TXT', data: ed!.value.replace('k=ed25519', 'k=rsa') }]);
    });
    const [rsa, ed] = view.sending_dns_records.dkim;
    assert.match(rsa!.detail!, /the key is cut off: \d+ of \d+ characters of p= were published/);
    assert.match(ed!.detail!, /k=rsa where k=ed25519 is expected/);
  });

  test('hint: the domain appended twice (DKIM)', async () => {
    const { view, domain } = await checkAfter((created, d) => {
      const rsa = rsaOf(created);
      dns.remove(rsa.hostname);
      dns.set(`${rsa.hostname}.${d}`, [{ type: 'TXT', data: rsa.value }]);
    });
    const rsa = rsaOf(view);
    const selector = rsa.hostname.split('.')[0];
    assert.match(rsa.detail!, /the domain was appended twice/);
    assert.ok(rsa.detail!.includes(`found at ${rsa.hostname}.${domain}`));
    assert.ok(rsa.detail!.includes(`enter only "${selector}._domainkey" as the name`));
  });

  test('hint: a CNAME where a TXT record is needed', async () => {
    const { view } = await checkAfter((_, d) => {
      dns.remove(`_securemail.${d}`);
      dns.set(`_securemail.${d}`, [{ type: 'CNAME', data: `verify.${d}` }]);
      dns.set(`verify.${d}`, [{ type: 'A', data: '192.0.2.1' }]);
    });
    const ses = view.sending_dns_records.ses;
    assert.equal(ses.status, 'failed');
    assert.match(
      ses.detail!,
      new RegExp(
        `_securemail\\.${view.domain.name} is a CNAME to verify\\.${view.domain.name}; a TXT record is needed`,
      ),
    );
  });

  test('DKIM through a CNAME to the right key passes (as providers publish it)', async () => {
    const { view } = await checkAfter((created, d) => {
      const rsa = rsaOf(created);
      dns.remove(rsa.hostname);
      dns.set(rsa.hostname, [{ type: 'CNAME', data: `keys.${d}` }]);
      dns.set(`keys.${d}`, [{ type: 'TXT', data: rsa.value }]);
    });
    assert.equal(rsaOf(view).status, 'success');
  });

  test('ownership: missing, at the apex, another token, quoted value', async () => {
    const apex = await checkAfter((created, d) => {
      dns.remove(`_securemail.${d}`);
      dns.set(d, [{ type: 'TXT', data: created.sending_dns_records.ses.value }]);
    });
    assert.match(apex.view.sending_dns_records.ses.detail!, /found at the apex/);
    assert.equal(apex.view.domain.state, 'unverified');

    const other = await checkAfter((_, d) =>
      dns.set(`_securemail.${d}`, [{ type: 'TXT', data: 'securemail-verification=someoneelse' }]),
    );
    assert.match(other.view.sending_dns_records.ses.detail!, /not the token of this account/);

    const quoted = await checkAfter((created, d) =>
      dns.set(`_securemail.${d}`, [
        { type: 'TXT', data: `"${created.sending_dns_records.ses.value}"` },
      ]),
    );
    assert.equal(quoted.view.sending_dns_records.ses.status, 'success');
  });

  test('DMARC: absent is suggested but not required', async () => {
    const { view, domain } = await checkAfter((_, d) => dns.remove(`_dmarc.${d}`));
    const dmarc = view.sending_dns_records.dmarc;
    assert.equal(dmarc.status, 'failed');
    // Monitoring first: p=quarantine for the whole domain could send the owner's other mail
    // to spam before anyone has read a report.
    assert.equal(dmarc.value, `v=DMARC1; p=none; rua=mailto:ops@${domain}`);
    assert.match(dmarc.detail!, /not required for the domain to become valid/);
    assert.match(dmarc.detail!, /Start with the suggested p=none: it changes nothing/);
    assert.match(
      dmarc.detail!,
      new RegExp(`daily reports to ops@${domain.replace(/\./g, '\\.')} `),
    );
    assert.match(dmarc.detail!, /change p=none to p=quarantine, .* later to p=reject/);
    assert.equal(view.domain.state, 'valid');
  });

  test('DMARC: an existing compatible record passes and is explained', async () => {
    const existing = 'v=DMARC1; p=reject; aspf=s; rua=mailto:dmarc@elsewhere.net';
    const { view } = await checkAfter((_, d) =>
      dns.set(`_dmarc.${d}`, [{ type: 'TXT', data: existing }]),
    );
    const dmarc = view.sending_dns_records.dmarc;
    assert.equal(dmarc.status, 'success');
    assert.equal(dmarc.value, existing);
    assert.match(dmarc.detail!, /existing DMARC record with p=reject; it is compatible/);
    assert.match(dmarc.detail!, /aspf=s/);
  });

  test('DMARC: two records, an invalid one, and the doubled-domain hint', async () => {
    const two = await checkAfter((_, d) =>
      dns.add(`_dmarc.${d}`, { type: 'TXT', data: 'v=DMARC1; p=none' }),
    );
    assert.match(two.view.sending_dns_records.dmarc.detail!, /has 2 DMARC records/);

    const invalid = await checkAfter((_, d) =>
      dns.set(`_dmarc.${d}`, [{ type: 'TXT', data: 'v=DMARC1; p=maybe' }]),
    );
    assert.match(
      invalid.view.sending_dns_records.dmarc.detail!,
      /p=maybe is not none, quarantine or reject/,
    );

    const doubled = await checkAfter((created, d) => {
      dns.remove(`_dmarc.${d}`);
      dns.set(`_dmarc.${d}.${d}`, [{ type: 'TXT', data: created.sending_dns_records.dmarc.value }]);
    });
    assert.ok(
      doubled.view.sending_dns_records.dmarc.detail!.includes(
        `found at _dmarc.${doubled.domain}.${doubled.domain}: the domain was appended twice`,
      ),
    );
  });
});
