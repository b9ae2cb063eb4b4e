// POST /security/check through the whole API app: in-process DNS and SMTP servers on
// ephemeral ports, the test CA trusted only through the app's `extraCa`.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app.ts';
import { MAX_CHECK_INPUTS } from '../../src/api/routes/security.ts';
import { createClient } from '../../src/clients/clients-service.ts';
import { loadConfig } from '../../src/config.ts';
import { requestToken } from '../support/app.ts';
import { chainPem, makeLeaf } from '../support/certs.ts';
import { dialects, type TestStore } from '../support/db.ts';
import { TestSmtpServer } from '../support/smtp-server.ts';
import { TEST_EPOCH } from '../support/test-clock.ts';
import { type Fixture, publishMx, startFixture } from './fixture.ts';

const CACHE_SECONDS = 300;

describe('POST /security/check', () => {
  let fx: Fixture;
  let good: TestSmtpServer;
  let plain: TestSmtpServer;
  let store: TestStore;
  let app: FastifyInstance;
  const clock = { now: TEST_EPOCH };
  let auth: { authorization: string };

  before(async () => {
    fx = await startFixture();
    const leaf = await makeLeaf({ names: ['mx.good.test'], issuer: fx.ca });
    good = await TestSmtpServer.start({ tls: { key: leaf.keyPem, cert: chainPem(leaf) } });
    // Same port, another loopback address: the app has one SMTP port for every MX host.
    plain = await TestSmtpServer.start({ host: '127.0.0.2', port: good.port });
    publishMx(fx, 'good.test', [{ name: 'mx.good.test' }]);
    publishMx(fx, 'plain.test', [{ name: 'mx.plain.test', address: '127.0.0.2' }]);

    store = await dialects()[0]!.open();
    const config = loadConfig({
      SECUREMAIL_DATA_DIR: '/nonexistent-test-dir',
      SECUREMAIL_HOSTNAME: 'sender.securemail.test',
      SECUREMAIL_DNS_SERVERS: fx.dns.server,
      SECUREMAIL_SMTP_PORT: String(good.port),
      SECUREMAIL_MX_ALLOW_NETWORKS: '127.0.0.0/8,::1/128',
      SECUREMAIL_MTA_STS_PORT: String(fx.policyServer.port),
      SECUREMAIL_SMTP_CONNECT_TIMEOUT_MS: '2000',
      SECUREMAIL_SMTP_COMMAND_TIMEOUT_MS: '2000',
      SECUREMAIL_CHECK_CACHE_SECONDS: String(CACHE_SECONDS),
    });
    app = await buildApp({
      config,
      store,
      logger: false,
      now: () => clock.now,
      resolver: fx.resolver,
      extraCa: [fx.ca.pem],
    });
    await app.ready();
    const { clientId, clientSecret } = await createClient(
      store,
      { name: 'checker', quotaLimit: null },
      clock.now,
    );
    auth = { authorization: `Bearer ${await requestToken(app, clientId, clientSecret)}` };
  });
  after(async () => {
    await app.close();
    await store.close();
    await good.close();
    await plain.close();
    await fx.close();
  });

  const check = (payload: unknown, headers: Record<string, string> = auth) =>
    app.inject({ method: 'POST', url: '/security/check', headers, payload: payload as object });

  test('a good server: deliver, with method, TLS, certificate and per-host details', async () => {
    const response = await check({ recipients: ['a@good.test', 'B@Good.Test'] });
    assert.equal(response.statusCode, 200, response.body);
    const { results } = response.json();
    assert.equal(results.length, 1, 'one result per domain');
    const [result] = results;
    assert.equal(result.domain, 'good.test');
    assert.deepEqual(result.recipients, ['a@good.test', 'B@Good.Test']);
    assert.equal(result.verdict, 'deliver');
    assert.equal(result.reason, undefined);
    assert.equal(result.method, 'pkix');
    assert.match(result.tlsVersion, /^TLSv1\.[23]$/);
    assert.match(result.cipher, /^TLS_/);
    assert.equal(typeof result.keyExchange, 'string');
    assert.deepEqual(result.certificate.dnsNames, ['mx.good.test']);
    assert.match(result.certificate.sha256, /^[0-9a-f]{64}$/);
    assert.match(result.certificate.issuer, /SecureMail Test Root/);
    assert.ok(Date.parse(result.certificate.validTo) > Date.now());

    assert.equal(result.hosts.length, 1);
    const [host] = result.hosts;
    assert.equal(host.host, 'mx.good.test');
    assert.equal(host.preference, 10);
    assert.equal(host.address, '127.0.0.1');
    assert.equal(host.result, 'pass');
    assert.equal(host.method, 'pkix');
    assert.equal(host.tlsVersion, result.tlsVersion);
    assert.equal(host.dnssec.mx, 'insecure');
    assert.equal(result.evidence.domain.recipientDomain, 'good.test');
    assert.equal(result.evidence.hosts[0].mxHost, 'mx.good.test');

    assert.equal(good.sawMailFrom, false, 'nothing was sent');
    assert.equal(good.commands.at(-1), 'tls: QUIT');
  });

  test('a server without STARTTLS: refuse with the reason; nothing sent in clear', async () => {
    const response = await check({ recipients: ['x@plain.test'] });
    assert.equal(response.statusCode, 200, response.body);
    const [result] = response.json().results;
    assert.equal(result.verdict, 'refuse');
    assert.equal(result.reason, 'starttls-not-supported');
    assert.match(result.explanation, /does not offer encryption/);
    assert.match(result.fix, /Enable STARTTLS/);
    assert.equal(result.method, undefined);
    assert.equal(result.hosts[0].result, 'fail');
    assert.equal(result.hosts[0].reason, 'starttls-not-supported');
    assert.ok(plain.connections > 0);
    assert.equal(plain.sawMailFrom, false);
    assert.ok(!plain.commands.some((c) => /^(MAIL|RCPT|DATA)/i.test(c)));
  });

  test('a stricter policy_level is judged separately', async () => {
    const response = await check({ recipients: ['good.test'], policy_level: 'authenticated' });
    assert.equal(response.statusCode, 200, response.body);
    const [result] = response.json().results;
    assert.equal(result.verdict, 'refuse');
    assert.equal(result.reason, 'pkix-insecure-mx');
    assert.equal(result.evidence.domain.policyLevel, 'authenticated');
  });

  test('results are cached per domain and level for SECUREMAIL_CHECK_CACHE_SECONDS', async () => {
    const first = await check({ recipients: ['cache@good.test'] });
    assert.equal(first.statusCode, 200);
    const connections = good.connections;

    clock.now += (CACHE_SECONDS - 1) * 1000;
    const cached = await check({ recipients: ['other@good.test', 'good.test'] });
    assert.equal(cached.statusCode, 200);
    assert.equal(good.connections, connections, 'no new connection within the cache time');
    const [result] = cached.json().results;
    assert.equal(result.verdict, 'deliver');
    assert.deepEqual(
      result.recipients,
      ['other@good.test', 'good.test'],
      'the inputs of this request',
    );

    clock.now += 2000;
    const expired = await check({ recipients: ['good.test'] });
    assert.equal(expired.statusCode, 200);
    assert.equal(good.connections, connections + 1, 'checked again once the entry expired');
    assert.equal(good.sawMailFrom, false);
  });

  test('an input that is neither an address nor a domain: 400 naming recipients.N', async () => {
    const response = await check({ recipients: ['good.test', 'not a domain'] });
    assert.equal(response.statusCode, 400);
    assert.equal(response.json().name, 'validation_failed');
    assert.equal(response.json().field, 'recipients.1');

    const address = await check({ recipients: ['a@b@'] });
    assert.equal(address.statusCode, 400);
    assert.equal(address.json().field, 'recipients.0');
  });

  test(`more than ${MAX_CHECK_INPUTS} entries, none, or an unknown field: 400`, async () => {
    const many = Array.from({ length: MAX_CHECK_INPUTS + 1 }, (_, i) => `u${i}@good.test`);
    const tooMany = await check({ recipients: many });
    assert.equal(tooMany.statusCode, 400);
    assert.equal(tooMany.json().field, 'recipients');

    const none = await check({ recipients: [] });
    assert.equal(none.statusCode, 400);
    assert.equal(none.json().field, 'recipients');

    const unknown = await check({ recipients: ['good.test'], send: true });
    assert.equal(unknown.statusCode, 400);
    assert.equal(unknown.json().field, 'send');

    const level = await check({ recipients: ['good.test'], policy_level: 'none' });
    assert.equal(level.statusCode, 400);
    assert.equal(level.json().field, 'policy_level');
  });

  test('a malformed MX target fails that host only: 200, the good host delivers', async () => {
    fx.dns.set('oddmx.test', [
      { type: 'MX', preference: 10, exchange: 'mx .oddmx.test' },
      { type: 'MX', preference: 20, exchange: 'mx.good.test' },
    ]);
    const response = await check({ recipients: ['a@oddmx.test'] });
    assert.equal(response.statusCode, 200, response.body);
    const [result] = response.json().results;
    assert.equal(result.verdict, 'deliver');
    assert.equal(result.hosts[0].reason, 'dns-invalid-answer');
    assert.equal(result.hosts[1].result, 'pass');
  });

  test('an MX at an internal address: refused, no connection, no transcript; the resolver named', async () => {
    publishMx(fx, 'internal.test', [{ name: 'mx.internal.test', address: '10.0.0.25' }]);
    const response = await check({ recipients: ['a@internal.test'] });
    assert.equal(response.statusCode, 200, response.body);
    const [result] = response.json().results;
    assert.equal(result.verdict, 'refuse');
    assert.equal(result.reason, 'mx-address-forbidden');
    assert.deepEqual(result.evidence.hosts[0].transcript, []);
    assert.deepEqual(result.resolvers, [{ address: fx.dns.server, trustAd: true }]);
  });

  test('401 without a token', async () => {
    const connections = good.connections;
    const response = await check({ recipients: ['good.test'] }, {});
    assert.equal(response.statusCode, 401);
    assert.equal(response.json().name, 'invalid_token');
    assert.equal(good.connections, connections);
  });
});
