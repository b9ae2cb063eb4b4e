// /metrics after real deliveries: the whole service (api, worker, mx roles, wired by
// service.ts as `securemail serve` wires them) against an in-process DNS server with AD and
// SMTP servers with test certificates, one secure by PKIX, one by DANE, one without
// STARTTLS, and a domain whose DNS fails. Then a DSN-less message to the bounce MX, a webhook
// that cannot be reached and a scheduled domain check, and the scrape must show all of it,
// with no domain or address in any label. A worker-only process serves the same registry on
// SECUREMAIL_METRICS_PORT.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { loadConfig } from '../../src/config.ts';
import { type RunningService, startService } from '../../src/service.ts';
import { mime } from '../delivery/support.ts';
import { chainPem, makeCa, makeLeaf } from '../support/certs.ts';
import { TestDnsServer } from '../support/dns-server.ts';
import { RawSmtpClient } from '../support/raw-smtp-client.ts';
import { verifiedSendingAccount } from '../support/sending-account.ts';
import { TestSmtpServer } from '../support/smtp-server.ts';

/** A port nothing listens on right now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** `name{labels} value` lines of a scrape, by series. */
function series(text: string): Map<string, number> {
  const map = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const at = line.lastIndexOf(' ');
    map.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return map;
}

describe('metrics of a running service', () => {
  let dir: string;
  let dns: TestDnsServer;
  const servers: TestSmtpServer[] = [];
  let service: RunningService;
  let env: Record<string, string>;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'securemail-metrics-'));
    dns = await TestDnsServer.start();
    const ca = await makeCa('SecureMail Metrics Test Root');
    const caFile = path.join(dir, 'ca.pem');
    writeFileSync(caFile, ca.pem);

    const mx = async (domain: string, address: string, port: number, secure: boolean) => {
      const host = `mx.${domain}`;
      const leaf = await makeLeaf({ names: [host], issuer: ca });
      const server = await TestSmtpServer.start({
        host: address,
        port,
        name: host,
        ...(secure ? { tls: { key: leaf.keyPem, cert: chainPem(leaf) } } : {}),
      });
      servers.push(server);
      dns.set(domain, [{ type: 'MX', preference: 10, exchange: host }]);
      dns.set(host, [{ type: 'A', data: address }]);
      return { server, leaf, host };
    };
    const ok = await mx('ok.test', '127.0.0.1', 0, true);
    const port = ok.server.port;
    await mx('plain.test', '127.0.0.2', port, false);
    const dane = await mx('dane.test', '127.0.0.3', port, true);
    dns.sign('dane.test');
    dns.sign(dane.host);
    dns.set(`_${port}._tcp.${dane.host}`, [
      {
        type: 'TLSA',
        usage: 3,
        selector: 1,
        matchingType: 1,
        data: createHash('sha256').update(dane.leaf.spki).digest(),
      },
    ]);
    dns.fail('broken.test', 'servfail', 'MX');
    dns.set('hooks.shop.test', [{ type: 'A', data: '127.0.0.1' }]);

    env = {
      SECUREMAIL_DATA_DIR: path.join(dir, 'data'),
      SECUREMAIL_HTTP_PORT: '0',
      SECUREMAIL_HOSTNAME: 'platform.test',
      SECUREMAIL_MX_HOSTS: 'mx1.platform.test,mx2.platform.test',
      SECUREMAIL_SPF_INCLUDE: 'spf.platform.test',
      SECUREMAIL_DNS_SERVERS: dns.server,
      SECUREMAIL_DNS_TIMEOUT_MS: '500',
      SECUREMAIL_SMTP_PORT: String(port),
      SECUREMAIL_MX_ALLOW_NETWORKS: '127.0.0.0/8',
      SECUREMAIL_SMTP_CONNECT_TIMEOUT_MS: '1000',
      SECUREMAIL_SMTP_COMMAND_TIMEOUT_MS: '2000',
      SECUREMAIL_CA_FILE: caFile,
      SECUREMAIL_MX_HOST: '127.0.0.1',
      SECUREMAIL_MX_PORT: String(await freePort()),
      SECUREMAIL_WEBHOOK_ALLOW_PRIVATE: 'true',
      SECUREMAIL_WEBHOOK_POLL_MS: '50',
      SECUREMAIL_WEBHOOK_TIMEOUT_MS: '500',
      SECUREMAIL_VERIFY_POLL_SECONDS: '1',
    };
    service = await startService(loadConfig(env), pino({ level: 'silent' }), [
      'api',
      'worker',
      'mx',
    ]);
  });
  after(async () => {
    await service?.stop();
    for (const s of servers) await s.close();
    await dns.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('deliveries, DNS failures, verifier, webhooks, bounce MX and the queue, bounded labels', async () => {
    const app = service.app!;
    const { tenant } = await verifiedSendingAccount(app, service.store, dns, {
      domain: 'shop.nl',
      notificationEmail: 'ops@notify.test',
      clientName: 'shop',
      now: Date.now(),
    });
    const hook = await app.inject({
      method: 'PUT',
      url: '/account/webhook?domain=shop.nl',
      headers: tenant.auth,
      // Nothing listens there: every delivery of an event fails and is retried.
      payload: { url: `https://hooks.shop.test:${await freePort()}/events` },
    });
    assert.equal(hook.statusCode, 201, hook.body);
    const submitted = await app.inject({
      method: 'POST',
      url: '/message',
      headers: tenant.auth,
      payload: {
        sender: 'news@shop.nl',
        recipients: ['a@ok.test', 'b@plain.test', 'c@dane.test', 'd@broken.test'],
        message: mime({}),
      },
    });
    assert.equal(submitted.statusCode, 202, submitted.body);
    // A scheduled check of the account's records, due now.
    await service.store.db.updateTable('domain_checks').set({ next_check_at: 0 }).execute();
    // Something for the bounce MX that is no delivery report.
    const smtp = await RawSmtpClient.connect(Number(env.SECUREMAIL_MX_PORT));
    await smtp.replies(1);
    smtp.write(
      'EHLO remote.test\r\nMAIL FROM:<>\r\nRCPT TO:<postmaster@bounce.shop.nl>\r\nDATA\r\n',
    );
    assert.match((await smtp.replies(4)).join('\n'), /354/);
    smtp.write('Subject: hello\r\n\r\nnot a report\r\n.\r\nQUIT\r\n');
    assert.match((await smtp.replies(2))[0]!, /^250/);
    smtp.close();

    const want = {
      pkix: 'securemail_delivery_attempts_total{outcome="delivered",reason="none",method="pkix",tls_version="TLSv1.3"}',
      dane: 'securemail_delivery_attempts_total{outcome="delivered",reason="none",method="dane",tls_version="TLSv1.3"}',
      refused:
        'securemail_delivery_attempts_total{outcome="refused_insecure",reason="starttls-not-supported",method="none",tls_version="none"}',
      deferred:
        'securemail_delivery_attempts_total{outcome="deferred",reason="dns-temporary-failure",method="none",tls_version="none"}',
      latency: 'securemail_delivery_latency_seconds_count{outcome="delivered"}',
      dns: 'securemail_dns_failures_total{kind="servfail",type="MX"}',
      verified: 'securemail_domain_verifications_total{outcome="valid"}',
      webhook: 'securemail_webhook_deliveries_total{result="retrying"}',
      bounce: 'securemail_bounce_mx_messages_total{kind="unparseable"}',
    };
    let text = '';
    let found = new Map<string, number>();
    for (let i = 0; i < 150; i++) {
      text = await (await fetch(`${service.url}/metrics`)).text();
      found = series(text);
      // The queue gauges are read at most every 5 s: wait for a reading after the round.
      const settled =
        found.get('securemail_queue_recipients{state="due"}') === 0 &&
        found.get('securemail_queue_recipients{state="scheduled"}') === 1;
      if (settled && Object.values(want).every((name) => (found.get(name) ?? 0) > 0)) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const missing = Object.entries(want).filter(([, name]) => !((found.get(name) ?? 0) > 0));
    assert.deepEqual(missing, [], text);
    assert.equal(found.get(want.pkix), 1);
    assert.equal(found.get(want.dane), 1);
    assert.equal(found.get(want.refused), 1);
    assert.equal(found.get(want.latency), 2);
    // The deferred recipient waits for its retry; nothing else is open.
    assert.equal(found.get('securemail_queue_oldest_due_seconds'), 0);
    for (const role of ['api', 'worker', 'mx'])
      assert.equal(found.get(`securemail_role{role="${role}"}`), 1, role);
    assert.ok((found.get('securemail_process_cpu_seconds_total') ?? 0) > 0);
    assert.ok(
      [...found.keys()].some((k) => k.startsWith('securemail_http_requests_total{')),
      'the HTTP counters are on the same registry',
    );
    // Bounded labels: no domain, host or address of the traffic in any series.
    for (const name of found.keys()) {
      assert.doesNotMatch(name, /ok\.test|dane\.test|plain\.test|broken\.test|shop\.nl|@/, name);
    }
  });

  test('a worker-only process serves its metrics on SECUREMAIL_METRICS_PORT', async () => {
    const port = await freePort();
    const worker = await startService(
      loadConfig({
        ...env,
        SECUREMAIL_DATA_DIR: path.join(dir, 'worker-data'),
        SECUREMAIL_METRICS_PORT: String(port),
      }),
      pino({ level: 'silent' }),
      ['worker'],
    );
    try {
      assert.equal(worker.url, undefined, 'no API in this process');
      assert.equal(worker.metricsPort, port);
      const scrape = await fetch(`http://127.0.0.1:${port}/metrics`);
      assert.equal(scrape.status, 200);
      assert.match(scrape.headers.get('content-type') ?? '', /^text\/plain/);
      const found = series(await scrape.text());
      assert.equal(found.get('securemail_role{role="worker"}'), 1);
      assert.equal(found.get('securemail_role{role="api"}'), undefined);
      assert.equal(found.get('securemail_queue_recipients{state="due"}'), 0);
      assert.equal(found.get('securemail_webhook_deliveries_total{result="delivered"}'), 0);
      assert.equal((await fetch(`http://127.0.0.1:${port}/`)).status, 404);
      assert.equal(
        (await fetch(`http://127.0.0.1:${port}/metrics`, { method: 'POST' })).status,
        405,
      );
    } finally {
      await worker.stop();
    }
    await assert.rejects(fetch(`http://127.0.0.1:${port}/metrics`), 'closed with the service');
  });
});
