// The verification schedule (backoff, give-up, daily re-check), transient DNS failures,
// losing records, DKIM rotation, keys at rest and the 412 for sending, on both dialects.

import assert from 'node:assert/strict';
import { createPublicKey, sign, verify as verifySignature } from 'node:crypto';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import type { AccountView } from '../../src/accounts/accounts-service.ts';
import { runDueVerifications, startDomainVerifier } from '../../src/accounts/domain-verifier.ts';
import { dkimSigningKeys, requireSendableDomain } from '../../src/accounts/sending-domain.ts';
import type { AppError } from '../../src/errors.ts';
import { openText, SealedBoxError } from '../../src/secrets/sealed-box.ts';
import { openNotice } from '../../src/secrets/sealed-content.ts';
import { listNotifications } from '../../src/store/account-notifications.repository.ts';
import { findAccount } from '../../src/store/accounts.repository.ts';
import { findDomainCheck } from '../../src/store/domain-checks.repository.ts';
import type { Account } from '../../src/store/schema.ts';
import { requestToken, type Tenant } from '../support/app.ts';
import { clearCopies } from '../support/at-rest.ts';
import { dialects, type TestStore } from '../support/db.ts';
import { TestDnsServer } from '../support/dns-server.ts';
import {
  createAccount,
  HOUR,
  MINUTE,
  type OnboardingApp,
  publishAll,
  START,
  startOnboardingApp,
  verify,
  verifyView,
} from './support.ts';

for (const dialect of dialects()) {
  describe(`domain verification (${dialect.name})`, () => {
    let store: TestStore;
    let dns: TestDnsServer;
    let t: OnboardingApp;
    let tenant: Tenant;
    let counter = 0;

    // Each test has its own store: the verifier works across all accounts of a database.
    before(async () => {
      dns = await TestDnsServer.start();
    });
    beforeEach(async () => {
      dns.reset();
      store = await dialect.open();
      t = await startOnboardingApp(store, dns);
      tenant = await t.tenant('shop');
    });
    afterEach(async () => {
      await t?.close();
      await store?.close();
    });
    after(async () => {
      await dns?.close();
    });

    /** A fresh token after the test moved the clock past the old one's expiry. */
    const relogin = async () => {
      const token = await requestToken(t.app, tenant.clientId, tenant.clientSecret);
      tenant = { ...tenant, token, auth: { authorization: `Bearer ${token}` } };
    };

    const nextDomain = () => `verify${++counter}-${dialect.name}.nl`;
    const account = async (domain: string): Promise<Account> =>
      (await findAccount(store.db, tenant.clientId, domain))!;
    const check = async (domain: string) =>
      (await findDomainCheck(store.db, (await account(domain)).id))!;
    const get = async (domain: string): Promise<AccountView> =>
      (
        await t.app.inject({
          method: 'GET',
          url: `/account?domain=${domain}`,
          headers: tenant.auth,
        })
      ).json();

    /** Runs the verifier at each due time until `until`; returns the minutes between checks. */
    async function runUntil(domain: string, until: number): Promise<number[]> {
      const gaps: number[] = [];
      let last = t.clock.now;
      for (;;) {
        const due = (await check(domain)).next_check_at;
        if (due > until || (await account(domain)).state === 'failed') return gaps;
        t.clock.now = due;
        const run = await runDueVerifications(t.deps);
        assert.equal(run.errors, 0);
        gaps.push((due - last) / MINUTE);
        last = due;
      }
    }

    async function validDomain(): Promise<{ domain: string; created: AccountView }> {
      const domain = nextDomain();
      const created = await createAccount(t, tenant, domain);
      publishAll(dns, created);
      assert.equal((await verifyView(t, tenant, domain)).domain.state, 'valid');
      return { domain, created };
    }

    test('backoff: minutes apart first, then hourly, failed after 72 hours', async () => {
      const domain = nextDomain();
      await createAccount(t, tenant, domain);
      assert.deepEqual(await runDueVerifications(t.deps), { checked: 0, errors: 0 });

      const gaps = await runUntil(domain, START + 80 * HOUR);
      assert.deepEqual(gaps.slice(0, 8), [2, 4, 8, 16, 32, 60, 60, 60]);
      const state = await account(domain);
      assert.equal(state.state, 'failed');
      const elapsed = t.clock.now - START;
      assert.ok(elapsed >= 72 * HOUR && elapsed < 73 * HOUR, `gave up after ${elapsed / HOUR} h`);
      // Given up: no more scheduled checks, and the view says so.
      t.clock.now += 10 * HOUR;
      assert.deepEqual(await runDueVerifications(t.deps), { checked: 0, errors: 0 });
      await relogin();
      const view = await get(domain);
      assert.equal(view.domain.state, 'failed');
      assert.equal(view.verification.next_check_at, null);
      const notices = await listNotifications(store.db, state.id);
      assert.deepEqual(
        notices.map((n) => [n.kind, n.recipient, n.sent_at]),
        [['domain_failed', `ops@${domain}`, null]],
      );

      // The owner publishes and asks: a manual check brings it back.
      publishAll(dns, view);
      const manual = await verifyView(t, tenant, domain);
      assert.equal(manual.domain.state, 'valid');
    });

    test('a manual check of a failed domain that still fails opens a new window', async () => {
      const domain = nextDomain();
      await createAccount(t, tenant, domain);
      await runUntil(domain, START + 80 * HOUR);
      assert.equal((await account(domain)).state, 'failed');
      await relogin();
      const view = await verifyView(t, tenant, domain);
      assert.equal(view.domain.state, 'unverified');
      const row = await check(domain);
      assert.equal(row.window_started_at, t.clock.now);
      assert.equal(row.next_check_at, t.clock.now + 4 * MINUTE);
    });

    test('the schedule lives in the database: a new verifier carries on', async () => {
      const domain = nextDomain();
      const created = await createAccount(t, tenant, domain);
      t.clock.now = START + 2 * MINUTE;
      const first = startDomainVerifier(t.deps);
      assert.equal((await first.runOnce()).checked, 1);
      await first.stop();
      publishAll(dns, created);
      // A restarted worker: nothing due until the stored time, then the check runs.
      const second = startDomainVerifier(t.deps);
      t.clock.now = START + 5 * MINUTE;
      assert.equal((await second.runOnce()).checked, 0);
      t.clock.now = START + 6 * MINUTE;
      assert.equal((await second.runOnce()).checked, 1);
      await second.stop();
      assert.equal((await account(domain)).state, 'valid');
      assert.equal((await check(domain)).next_check_at, START + 6 * MINUTE + 24 * HOUR);
    });

    test('valid domains are re-checked daily; losing a record makes them unverified and records a notice', async () => {
      const { domain } = await validDomain();
      const row = await check(domain);
      assert.equal(row.next_check_at, START + 24 * HOUR);
      t.clock.now = START + 24 * HOUR;
      assert.equal((await runDueVerifications(t.deps)).checked, 1);
      assert.equal((await account(domain)).state, 'valid');

      dns.remove(`_securemail.${domain}`);
      t.clock.now = START + 48 * HOUR;
      assert.equal((await runDueVerifications(t.deps)).checked, 1);
      const after = await account(domain);
      assert.equal(after.state, 'unverified');
      await relogin();
      const view = await get(domain);
      assert.equal(view.sending_dns_records.ses.status, 'failed');
      const notices = await listNotifications(store.db, after.id);
      assert.equal(notices.length, 1);
      assert.equal(notices[0]!.kind, 'domain_unverified');
      assert.equal(notices[0]!.recipient, `ops@${domain}`);
      assert.equal(notices[0]!.sent_at, null);
      // Sealed at rest; the worker opens it to mail it.
      const notice = openNotice(t.masterKey, notices[0]!);
      assert.match(notice.subject, /can no longer send/);
      assert.match(
        notice.body,
        new RegExp(`TXT _securemail\\.${domain}: _securemail\\.${domain} does not exist`),
      );
      assert.deepEqual(await clearCopies(store, 'Publish them again'), []);
      assert.deepEqual(await clearCopies(store, 'can no longer send'), []);
      // A new window with the short backoff.
      assert.equal((await check(domain)).next_check_at, t.clock.now + 4 * MINUTE);
    });

    test('DNS timeouts and SERVFAIL never flip a valid domain', async () => {
      const { domain } = await validDomain();
      dns.fail(`_securemail.${domain}`, 'timeout');
      t.clock.now = START + 24 * HOUR;
      assert.equal((await runDueVerifications(t.deps)).checked, 1);
      await relogin();
      let view = await get(domain);
      assert.equal(view.domain.state, 'valid');
      assert.equal(view.sending_dns_records.ses.status, 'success');
      assert.equal(view.verification.last_outcome, 'transient');
      // Retried soon, not a day later.
      assert.equal((await check(domain)).next_check_at, t.clock.now + 4 * MINUTE);

      dns.clearFailures();
      dns.fail(`bounce.${domain}`, 'servfail');
      view = await verifyView(t, tenant, domain);
      assert.equal(view.domain.state, 'valid');
      assert.equal(view.sending_dns_records.spf.status, 'success');
      for (const mx of view.receiving_dns_records.mx) assert.equal(mx.status, 'success');

      // A transient failure beside a definite one: the definite one counts.
      dns.remove(`_securemail.${domain}`);
      view = await verifyView(t, tenant, domain);
      assert.equal(view.domain.state, 'unverified');
    });

    test('a timeout leaves an unverified domain and its last results as they were', async () => {
      const domain = nextDomain();
      const created = await createAccount(t, tenant, domain);
      const before = await verifyView(t, tenant, domain);
      assert.equal(before.sending_dns_records.ses.status, 'failed');
      publishAll(dns, created);
      dns.fail(`_securemail.${domain}`, 'timeout');
      const view = await verifyView(t, tenant, domain);
      assert.equal(view.domain.state, 'unverified');
      assert.equal(view.verification.last_outcome, 'transient');
      // The earlier result stands, after what DNS did this time (which resolver, what query).
      const detail = view.sending_dns_records.ses.detail ?? '';
      assert.equal(view.sending_dns_records.ses.status, 'failed');
      assert.match(
        detail,
        new RegExp(
          `^Could not look up TXT _securemail\\.${domain.replace(/\./g, '\\.')}: no answer from 127\\.0\\.0\\.1:\\d+ within \\d+ ms \\(1 try\\)\\.`,
        ),
      );
      const earlier = before.sending_dns_records.ses.detail?.replace(/\.$/, '');
      assert.ok(detail.endsWith(`The check before: not found: ${earlier}.`), detail);
      assert.equal(view.sending_dns_records.spf.status, 'success');
    });

    test('DKIM private keys are sealed in the database and match the published keys', async () => {
      const { domain, created } = await validDomain();
      const acc = await account(domain);
      const rows = await store.db
        .selectFrom('dkim_keys')
        .selectAll()
        .where('account_id', '=', acc.id)
        .execute();
      assert.equal(rows.length, 2);
      for (const row of rows) {
        const raw = JSON.stringify(row);
        assert.ok(!raw.includes('PRIVATE KEY'));
        assert.ok(
          !Buffer.from(row.private_key_sealed, 'base64').toString('latin1').includes('BEGIN'),
        );
        assert.equal(Buffer.from(row.private_key_sealed, 'base64')[0], 1, 'sealed box version');
      }
      const keys = await dkimSigningKeys(t.deps, acc);
      assert.deepEqual(keys.map((k) => k.algorithm).sort(), ['ed25519', 'rsa']);
      for (const key of keys) {
        assert.match(key.privateKey, /^-----BEGIN PRIVATE KEY-----/);
        const published = created.sending_dns_records.dkim.find((r) =>
          r.hostname.startsWith(`${key.selector}.`),
        )!;
        const p = published.value.split('p=')[1]!;
        const der =
          key.algorithm === 'rsa'
            ? Buffer.from(p, 'base64')
            : Buffer.concat([
                Buffer.from('302a300506032b6570032100', 'hex'),
                Buffer.from(p, 'base64'),
              ]);
        const publicKey = createPublicKey({ key: der, format: 'der', type: 'spki' });
        const data = Buffer.from('DKIM test');
        const algorithm = key.algorithm === 'rsa' ? 'sha256' : null;
        assert.ok(
          verifySignature(algorithm, data, publicKey, sign(algorithm, data, key.privateKey)),
        );
      }
      // Another master key, or a sealed key moved to another row, does not open.
      const [rsa, ed] = rows;
      await assert.rejects(
        dkimSigningKeys({ store, masterKey: Buffer.alloc(32, 7) }, acc),
        SealedBoxError,
      );
      assert.throws(
        () =>
          openText(
            t.masterKey,
            'dkim-private-key',
            `dkim_keys:${acc.id}:${ed!.selector}`,
            rsa!.private_key_sealed,
          ),
        SealedBoxError,
      );
    });

    test('rotation: new selectors published, old keys sign until the new ones verify', async () => {
      const { domain, created } = await validDomain();
      const oldSelectors = created.sending_dns_records.dkim.map((r) => r.hostname.split('.')[0]);
      const rotate = await t.app.inject({
        method: 'POST',
        url: `/account/dkim/rotate?domain=${domain}`,
        headers: tenant.auth,
      });
      assert.equal(rotate.statusCode, 200);
      const rotating: AccountView = rotate.json();
      assert.equal(rotating.domain.state, 'valid');
      const dkim = rotating.sending_dns_records.dkim;
      assert.equal(dkim.length, 4);
      const fresh = dkim.slice(2);
      for (const r of fresh) {
        assert.equal(r.status, 'pending');
        assert.match(r.detail!, /New key of a rotation/);
        assert.ok(!oldSelectors.includes(r.hostname.split('.')[0]));
      }
      assert.equal((await check(domain)).next_check_at, t.clock.now + 2 * MINUTE);
      const signing = async () =>
        (await dkimSigningKeys(t.deps, await account(domain))).map((k) => k.selector).sort();
      assert.deepEqual(await signing(), [...oldSelectors].sort());

      // Not yet published: still valid, still signing with the old keys.
      let view = await verifyView(t, tenant, domain);
      assert.equal(view.domain.state, 'valid');
      assert.equal(view.sending_dns_records.dkim[2]!.status, 'failed');
      assert.deepEqual(await signing(), [...oldSelectors].sort());

      for (const r of fresh) dns.set(r.hostname, [{ type: 'TXT', data: r.value }]);
      t.clock.now += 10 * MINUTE;
      assert.equal((await runDueVerifications(t.deps)).checked, 1);
      view = await get(domain);
      assert.deepEqual(
        view.sending_dns_records.dkim.map((r) => [r.hostname, r.status]),
        fresh.map((r) => [r.hostname, 'success']),
      );
      const newSelectors = fresh.map((r) => r.hostname.split('.')[0]!).sort();
      assert.deepEqual(await signing(), newSelectors);
      const retired = await store.db
        .selectFrom('dkim_keys')
        .select('selector')
        .where('status', '=', 'retired')
        .where('account_id', '=', (await account(domain)).id)
        .execute();
      assert.deepEqual(retired.map((r) => r.selector).sort(), [...oldSelectors].sort());
      assert.equal((await check(domain)).next_check_at, t.clock.now + 24 * HOUR);
    });

    test('requireSendableDomain: 412 listing the missing records, the account when valid, 404 for others', async () => {
      const domain = nextDomain();
      await createAccount(t, tenant, domain);
      dns.set(`_securemail.${domain}`, [{ type: 'TXT', data: 'securemail-verification=wrong' }]);
      await verify(t, tenant, domain);
      await assert.rejects(
        requireSendableDomain(t.deps, tenant.clientId, domain),
        (error: AppError) => {
          assert.equal(error.code, 'domain_not_valid');
          assert.equal(error.status, 412);
          assert.match(error.message, new RegExp(`^The domain ${domain} is unverified, not valid`));
          assert.ok(
            error.message.includes(
              `MX bounce.${domain} mx1.platform.test (bounce.${domain} does not exist in DNS); MX bounce.${domain} mx2.platform.test (`,
            ),
          );
          assert.ok(
            error.message.includes(
              `TXT _securemail.${domain} (Found "securemail-verification=wrong"`,
            ),
          );
          assert.ok(!error.message.includes('_dmarc'), 'DMARC is not required');
          return true;
        },
      );
      const other = await t.tenant('other');
      await assert.rejects(
        requireSendableDomain(t.deps, other.clientId, domain),
        (error: AppError) => error.code === 'account_not_found',
      );

      const valid = await validDomain();
      const sendable = await requireSendableDomain(
        t.deps,
        tenant.clientId,
        valid.domain.toUpperCase(),
      );
      assert.equal(sendable.domain, valid.domain);
    });
  });
}
