// When DNS itself fails, the record statuses, the 412 of POST /message and the logs say which
// resolver was asked which query and what happened (refused, no answer, SERVFAIL, bogus),
// instead of "timeout" or "not checked yet", and never look like missing records.

import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import type { AccountView } from '../../src/accounts/accounts-service.ts';
import { verifyAccount } from '../../src/accounts/verification.ts';
import { findAccount } from '../../src/store/accounts.repository.ts';
import { dialects, type TestStore } from '../support/db.ts';
import { TestDnsServer } from '../support/dns-server.ts';
import {
  createAccount,
  type OnboardingApp,
  publishAll,
  startOnboardingApp,
  verifyView,
} from './support.ts';

/** A UDP port on 127.0.0.1 where nothing listens (the kernel answers "port unreachable"). */
async function closedPort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

function allRecords(view: AccountView) {
  const { spf, dkim, dmarc, ses } = view.sending_dns_records;
  return [...view.receiving_dns_records.mx, spf, ...dkim, dmarc, ses];
}

for (const dialect of dialects()) {
  describe(`DNS problems explained (${dialect.name})`, () => {
    let store: TestStore;
    let dns: TestDnsServer;
    before(async () => {
      store = await dialect.open();
      dns = await TestDnsServer.start();
    });
    after(async () => {
      await dns.close();
      await store.close();
    });

    test('a resolver where nothing listens: every record says so after a check; 412 names them', async (t) => {
      const port = await closedPort();
      const nobody = { host: '127.0.0.1', port, server: `127.0.0.1:${port}` } as TestDnsServer;
      const app: OnboardingApp = await startOnboardingApp(store, nobody);
      t.after(() => app.close());
      const tenant = await app.tenant('refused');
      const created = await createAccount(app, tenant, 'refused.nl');
      for (const record of allRecords(created)) assert.equal(record.detail, 'not checked yet');

      const checked = await verifyView(app, tenant, 'refused.nl');
      const get = await app.app.inject({
        method: 'GET',
        url: '/account?domain=refused.nl',
        headers: tenant.auth,
      });
      for (const view of [checked, get.json() as AccountView]) {
        assert.equal(view.verification.last_outcome, 'transient');
        for (const record of allRecords(view)) {
          assert.equal(record.status, 'pending', record.hostname);
          assert.equal(
            record.detail?.startsWith(
              `Could not look up ${record.type} ${record.hostname}: 127.0.0.1:${port} refused the connection (nothing listens there).`,
            ),
            true,
            record.detail,
          );
        }
      }

      const sent = await app.app.inject({
        method: 'POST',
        url: '/message',
        headers: tenant.auth,
        payload: {
          sender: 'news@refused.nl',
          recipients: ['a@example.org'],
          subject: 'Hi',
          text: 'Hello',
        },
      });
      assert.equal(sent.statusCode, 412, sent.body);
      const message: string = sent.json().message;
      assert.match(
        message,
        /^The domain refused\.nl is unverified, not valid\. Not checked or not looked up: /,
      );
      assert.ok(
        message.includes(
          `MX bounce.refused.nl mx1.platform.test (Could not look up MX bounce.refused.nl: 127.0.0.1:${port} refused the connection (nothing listens there)`,
        ),
        message,
      );
      assert.doesNotMatch(message, /Missing or wrong/);
      assert.match(message, /POST \/account\/verify\?domain=refused\.nl\.$/);

      // The log of a check says it too.
      const lines: string[] = [];
      const sink = new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk));
          done();
        },
      });
      const account = await findAccount(store.db, tenant.clientId, 'refused.nl');
      await verifyAccount({ ...app.deps, logger: pino(sink) }, account!, 'schedule');
      const entry = JSON.parse(lines.find((l) => l.includes('domain checked'))!);
      assert.equal(entry.level, 40);
      assert.equal(entry.msg, 'domain checked; some DNS lookups failed');
      assert.ok(
        entry.dnsProblems.some((p: string) =>
          p.startsWith(`Could not look up TXT _securemail.refused.nl: 127.0.0.1:${port} refused`),
        ),
        JSON.stringify(entry.dnsProblems),
      );
    });

    test('SERVFAIL with a DNSSEC reason after the records were found: the earlier result stands, said as such', async (t) => {
      const app = await startOnboardingApp(store, dns);
      t.after(() => app.close());
      const tenant = await app.tenant('bogus');
      const created = await createAccount(app, tenant, 'bogus.nl');
      publishAll(dns, created);
      assert.equal((await verifyView(app, tenant, 'bogus.nl')).domain.state, 'valid');
      dns.fail('_securemail.bogus.nl', 'bogus', 'TXT');
      dns.fail('bounce.bogus.nl', 'refused', 'MX');
      const view = await verifyView(app, tenant, 'bogus.nl');
      assert.equal(view.domain.state, 'valid');
      const { ses } = view.sending_dns_records;
      assert.equal(ses.status, 'success');
      assert.equal(
        ses.detail,
        `Could not look up TXT _securemail.bogus.nl: SERVFAIL from ${dns.server} (DNSSEC Bogus: signature crypto failed). ` +
          'This says nothing about the record: the DNS lookup itself failed (the resolver, or the name servers or DNSSEC signatures of the domain). ' +
          'The check before: found.',
      );
      const [mx] = view.receiving_dns_records.mx;
      assert.match(
        mx?.detail ?? '',
        new RegExp(
          `^Could not look up MX bounce\\.bogus\\.nl: REFUSED from ${dns.server.replace(/\./g, '\\.')}\\.`,
        ),
      );
    });
  });
}
