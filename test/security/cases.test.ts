// Every case of SECURITY_POLICY.md "Cases every implementation must be tested against",
// end to end: the real DNS client against the in-process DNS server, in-process SMTP
// servers with certificates made here, and the test CA trusted only through `extraCa`.
// Each asserts the verdict, the reason, and that no MAIL FROM reached a server that must
// not get mail.
import assert from 'node:assert/strict';
import { createHash, type X509Certificate } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { HostEvidence } from '../../src/security/evidence.ts';
import { STS_REFRESH_RETRY_SECONDS } from '../../src/security/mta-sts.ts';
import { createMemoryStsPolicyCache } from '../../src/security/mta-sts-cache.ts';
import {
  type JudgedHost,
  openSecureSession,
  type SecureSessionResult,
  type SessionSource,
} from '../../src/security/open-session.ts';
import type { SmtpClient } from '../../src/security/smtp-client.ts';
import { SmtpError } from '../../src/security/smtp-reply.ts';

type Satisfies = Parameters<NonNullable<SessionSource['reuse']>>[3];

import { chainPem, makeLeaf } from '../support/certs.ts';
import { policyText } from '../support/https-policy-server.ts';
import { Mitm } from '../support/mitm.ts';
import type { TestSmtpOptions } from '../support/smtp-server.ts';
import {
  type CheckArgs,
  checkSession,
  deps,
  type Fixture,
  options,
  publishMx,
  startFixture,
  tlsaData,
} from './fixture.ts';

let fx: Fixture;
before(async () => {
  fx = await startFixture();
});
after(async () => {
  await fx.close();
});

const smtpServer = (options: TestSmtpOptions) => fx.smtpServer(options);
/** A server with a certificate for `names` from the test CA (or as given). */
const tlsServer: Fixture['tlsServer'] = (...args) => fx.tlsServer(...args);

/** The verdict for mail to a domain, with this file's fixture. */
const check = (...args: CheckArgs) => checkSession(fx, ...args);

function assertVerdict(
  result: SecureSessionResult,
  verdict: 'refuse' | 'defer',
  reason: string,
): void {
  assert.equal(
    result.verdict,
    verdict,
    JSON.stringify(result.evidence.map((e) => [e.mxHost, e.reason, e.detail])),
  );
  assert.equal(result.reason, reason);
}

function assertDelivers(result: SecureSessionResult, method: string): void {
  const detail = result.verdict === 'deliver' ? '' : `${result.reason}: ${result.message}`;
  assert.equal(result.verdict, 'deliver', detail);
  assert.equal(result.verdict === 'deliver' && result.method, method);
}

describe('certificates and PKIX', () => {
  test('good server: delivers over TLS with PKIX, records evidence, and sends a message', async () => {
    const { server, leaf } = await tlsServer(['mx.good.test']);
    publishMx(fx, 'good.test', [{ name: 'mx.good.test' }]);
    const result = await openSecureSession('good.test', options(fx, server.port), deps(fx));
    assertDelivers(result, 'pkix');
    assert.ok(result.verdict === 'deliver');
    const host = result.evidence[0]!;
    assert.equal(host.result, 'pass');
    assert.equal(host.address, '127.0.0.1');
    assert.equal(host.policySource, 'pkix');
    assert.equal(host.dnssec.mx, 'insecure');
    assert.equal(host.certificate?.sha256, createHash('sha256').update(leaf.der).digest('hex'));
    assert.deepEqual(host.certificate?.dnsNames, ['mx.good.test']);
    assert.match(host.tls?.version ?? '', /^TLSv1\.[23]$/);
    assert.ok(host.transcript.some((t) => t.text.startsWith('220 ')));
    const session = result.session;
    assert.ok(session.capabilities.has('REQUIRETLS'), 'capabilities come from the EHLO after TLS');
    assert.ok(!session.capabilities.has('STARTTLS'));
    // REQUIRETLS is advertised, but PKIX alone does not satisfy RFC 8689.
    await assert.rejects(session.mail('sender@securemail.test', { requireTls: true }), SmtpError);
    await session.mail('sender@securemail.test');
    await session.rcpt('someone@good.test');
    const reply = await session.data(Buffer.from('Subject: hi\r\n\r\n.leading dot\r\nbody\r\n'));
    assert.equal(reply.code, 250);
    await session.quit();
    assert.equal(server.messages.length, 1);
    assert.equal(server.messages[0]!.overTls, true);
    assert.match(server.messages[0]!.data.toString(), /\r\n\.leading dot\r\n/);
  });

  test('self-signed certificate without DANE: refused, certificate-not-trusted', async () => {
    const { server } = await tlsServer(['mx.selfsigned.test'], { issuer: null });
    publishMx(fx, 'selfsigned.test', [{ name: 'mx.selfsigned.test' }]);
    assertVerdict(await check('selfsigned.test', server.port), 'refuse', 'certificate-not-trusted');
    assert.equal(server.sawMailFrom, false);
  });

  test('expired certificate: refused, certificate-expired', async () => {
    const { server } = await tlsServer(['mx.expired.test'], { expired: true });
    publishMx(fx, 'expired.test', [{ name: 'mx.expired.test' }]);
    assertVerdict(await check('expired.test', server.port), 'refuse', 'certificate-expired');
    assert.equal(server.sawMailFrom, false);
  });

  test('wrong name: refused, certificate-host-mismatch', async () => {
    const { server } = await tlsServer(['mail.elsewhere.test']);
    publishMx(fx, 'wrongname.test', [{ name: 'mx.wrongname.test' }]);
    assertVerdict(
      await check('wrongname.test', server.port),
      'refuse',
      'certificate-host-mismatch',
    );
    assert.equal(server.sawMailFrom, false);
  });

  test('certificate valid for the domain but not the MX host: refused', async () => {
    const { server } = await tlsServer(['domainonly.test']);
    publishMx(fx, 'domainonly.test', [{ name: 'mx.domainonly.test' }]);
    assertVerdict(
      await check('domainonly.test', server.port),
      'refuse',
      'certificate-host-mismatch',
    );
    assert.equal(server.sawMailFrom, false);
  });
});

describe('STARTTLS', () => {
  test('no STARTTLS: refused, starttls-not-supported, nothing sent in clear', async () => {
    const server = await smtpServer({});
    publishMx(fx, 'nostarttls.test', [{ name: 'mx.nostarttls.test' }]);
    assertVerdict(await check('nostarttls.test', server.port), 'refuse', 'starttls-not-supported');
    assert.equal(server.sawMailFrom, false);
    assert.deepEqual(server.commands, ['EHLO sender.securemail.test', 'QUIT']);
  });

  test('STARTTLS stripped by a man in the middle: refused, nothing sent in clear', async () => {
    const { server } = await tlsServer(['mx.stripped.test']);
    const mitm = await Mitm.start(server, { kind: 'strip-starttls' });
    fx.closeLater(mitm);
    publishMx(fx, 'stripped.test', [{ name: 'mx.stripped.test' }]);
    assertVerdict(await check('stripped.test', mitm.port), 'refuse', 'starttls-not-supported');
    assert.equal(server.sawMailFrom, false);
    assert.ok(!server.commands.includes('STARTTLS'));
  });

  test('STARTTLS stripped in front of a DANE host: deferred, never refused, nothing sent', async () => {
    const { server, leaf } = await tlsServer(['mx.dane-stripped.test'], { issuer: null });
    const mitm = await Mitm.start(server, { kind: 'strip-starttls' });
    fx.closeLater(mitm);
    fx.dns.sign('dane-stripped.test');
    publishMx(fx, 'dane-stripped.test', [{ name: 'mx.dane-stripped.test' }]);
    fx.dns.set(`_${mitm.port}._tcp.mx.dane-stripped.test`, [
      { type: 'TLSA', usage: 3, selector: 1, matchingType: 1, data: tlsaData(leaf, 1, 1) },
    ]);
    for (const policyLevel of ['verified', 'dane-only'] as const) {
      const result = await check('dane-stripped.test', mitm.port, { policyLevel });
      assertVerdict(result, 'defer', 'dane-starttls-missing');
    }
    assert.equal(server.sawMailFrom, false);
    assert.ok(!server.commands.includes('STARTTLS'));
  });

  test('454 to STARTTLS: deferred, starttls-refused', async () => {
    const { server } = await tlsServer(
      ['mx.454.test'],
      {},
      { starttlsReply: '454 4.7.0 TLS not available' },
    );
    publishMx(fx, 'tls454.test', [{ name: 'mx.454.test' }]);
    assertVerdict(await check('tls454.test', server.port), 'defer', 'starttls-refused');
    assert.equal(server.sawMailFrom, false);
  });

  test('bytes injected after 220 by the server: discarded, recorded, never acted on', async () => {
    // If the injected reply were read as the answer to the EHLO after TLS, the session
    // would fail or see the fake capability; it must see the real post-TLS EHLO instead.
    const injected = '250-FAKE\r\n250 INJECTED\r\n';
    const { server } = await tlsServer(['mx.inject.test'], {}, { injectAfterStartTls: injected });
    publishMx(fx, 'inject.test', [{ name: 'mx.inject.test' }]);
    const result = await openSecureSession('inject.test', options(fx, server.port), deps(fx));
    assertDelivers(result, 'pkix');
    assert.ok(result.verdict === 'deliver');
    assert.equal(result.evidence[0]!.injectedAfterStartTls, Buffer.from(injected).toString('hex'));
    assert.ok(!result.session.capabilities.has('INJECTED'));
    assert.ok(result.session.capabilities.has('REQUIRETLS'));
    await result.session.quit();
    assert.equal(server.sawMailFrom, false);
  });

  test('bytes injected after 220 by a man in the middle: discarded and recorded', async () => {
    const { server } = await tlsServer(['mx.mitminject.test']);
    const mitm = await Mitm.start(server, {
      kind: 'inject-after-starttls',
      bytes: '554 5.7.0 injected\r\n',
    });
    fx.closeLater(mitm);
    publishMx(fx, 'mitminject.test', [{ name: 'mx.mitminject.test' }]);
    const result = await check('mitminject.test', mitm.port);
    assertDelivers(result, 'pkix');
    assert.match(
      Buffer.from(result.evidence[0]!.injectedAfterStartTls ?? '', 'hex').toString(),
      /554 5\.7\.0 injected/,
    );
  });
});

describe('TLS parameters', () => {
  test('TLS 1.0/1.1 only: refused, tls-version-too-low, with the probe recorded', async () => {
    const leaf = await makeLeaf({ names: ['mx.oldtls.test'], issuer: fx.ca });
    const server = await smtpServer({
      tls: {
        key: leaf.keyPem,
        cert: leaf.pem,
        minVersion: 'TLSv1',
        maxVersion: 'TLSv1.1',
        ciphers: 'DEFAULT@SECLEVEL=0',
      },
    });
    publishMx(fx, 'oldtls.test', [{ name: 'mx.oldtls.test' }]);
    const result = await check('oldtls.test', server.port);
    assertVerdict(result, 'refuse', 'tls-version-too-low');
    assert.equal(result.evidence[0]!.tlsProbe?.version, 'TLSv1.1');
    assert.equal(server.sawMailFrom, false);
  });

  test('weak ciphers only (static RSA): refused, cipher-not-acceptable', async () => {
    const leaf = await makeLeaf({ names: ['mx.weak.test'], issuer: fx.ca, keyKind: 'rsa' });
    const server = await smtpServer({
      tls: {
        key: leaf.keyPem,
        cert: leaf.pem,
        maxVersion: 'TLSv1.2',
        ciphers: 'AES128-SHA:AES256-SHA256',
      },
    });
    publishMx(fx, 'weak.test', [{ name: 'mx.weak.test' }]);
    const result = await check('weak.test', server.port);
    assertVerdict(result, 'refuse', 'cipher-not-acceptable');
    assert.equal(result.evidence[0]!.tlsProbe?.cipherRating, 'insufficient');
    assert.equal(server.sawMailFrom, false);
  });

  test('TLS 1.2 with ECDHE and AES-GCM: delivered (sufficient)', async () => {
    const leaf = await makeLeaf({ names: ['mx.tls12.test'], issuer: fx.ca });
    const server = await smtpServer({
      tls: { key: leaf.keyPem, cert: leaf.pem, maxVersion: 'TLSv1.2' },
    });
    publishMx(fx, 'tls12.test', [{ name: 'mx.tls12.test' }]);
    const result = await check('tls12.test', server.port);
    assertDelivers(result, 'pkix');
    assert.equal(result.evidence[0]!.tls?.versionRating, 'sufficient');
  });
});

describe('DANE', () => {
  test('DANE-EE match with a self-signed certificate: delivered by DANE', async () => {
    const { server, leaf } = await tlsServer(['whatever.invalid'], { issuer: null });
    fx.dns.sign('dane-ee.test');
    publishMx(fx, 'dane-ee.test', [{ name: 'mx.dane-ee.test' }]);
    fx.dns.set(`_${server.port}._tcp.mx.dane-ee.test`, [
      { type: 'TLSA', usage: 3, selector: 1, matchingType: 1, data: tlsaData(leaf, 1, 1) },
    ]);
    const result = await check('dane-ee.test', server.port);
    assertDelivers(result, 'dane');
    assert.equal(result.evidence[0]!.dnssec.mx, 'secure');
    assert.match(result.evidence[0]!.tlsa?.matched ?? '', /^3 1 1 /);
  });

  test('DANE mismatch: refused, tlsa-invalid, no fallback to a valid PKIX certificate', async () => {
    const { server } = await tlsServer(['mx.dane-bad.test']);
    const other = await makeLeaf({ names: ['mx.dane-bad.test'] });
    fx.dns.sign('dane-bad.test');
    publishMx(fx, 'dane-bad.test', [{ name: 'mx.dane-bad.test' }]);
    fx.dns.set(`_${server.port}._tcp.mx.dane-bad.test`, [
      { type: 'TLSA', usage: 3, selector: 1, matchingType: 1, data: tlsaData(other, 1, 1) },
    ]);
    assertVerdict(await check('dane-bad.test', server.port), 'refuse', 'tlsa-invalid');
    assert.equal(server.sawMailFrom, false);
  });

  test('DANE-TA with the right name: delivered', async () => {
    const leaf = await makeLeaf({ names: ['mx.dane-ta.test'], issuer: fx.ca });
    const server = await smtpServer({ tls: { key: leaf.keyPem, cert: chainPem(leaf, fx.ca) } });
    fx.dns.sign('dane-ta.test');
    publishMx(fx, 'dane-ta.test', [{ name: 'mx.dane-ta.test' }]);
    fx.dns.set(`_${server.port}._tcp.mx.dane-ta.test`, [
      { type: 'TLSA', usage: 2, selector: 1, matchingType: 1, data: tlsaData(fx.ca, 1, 1) },
    ]);
    // No extraCa: DANE-TA must not depend on the PKIX trust store.
    assertDelivers(await check('dane-ta.test', server.port, { extraCa: [] }), 'dane');
  });

  test('DANE-TA with a wrong name: refused, certificate-host-mismatch', async () => {
    const leaf = await makeLeaf({ names: ['unrelated.test'], issuer: fx.ca });
    const server = await smtpServer({ tls: { key: leaf.keyPem, cert: chainPem(leaf, fx.ca) } });
    fx.dns.sign('dane-ta-name.test');
    publishMx(fx, 'dane-ta-name.test', [{ name: 'mx.dane-ta-name.test' }]);
    fx.dns.set(`_${server.port}._tcp.mx.dane-ta-name.test`, [
      { type: 'TLSA', usage: 2, selector: 0, matchingType: 2, data: tlsaData(fx.ca, 0, 2) },
    ]);
    assertVerdict(
      await check('dane-ta-name.test', server.port),
      'refuse',
      'certificate-host-mismatch',
    );
    assert.equal(server.sawMailFrom, false);
  });

  test('TLSA usage 0/1 only: ignored, so a self-signed certificate is refused', async () => {
    const { server, leaf } = await tlsServer(['mx.pkix-tlsa.test'], { issuer: null });
    fx.dns.sign('pkix-tlsa.test');
    publishMx(fx, 'pkix-tlsa.test', [{ name: 'mx.pkix-tlsa.test' }]);
    fx.dns.set(`_${server.port}._tcp.mx.pkix-tlsa.test`, [
      { type: 'TLSA', usage: 1, selector: 1, matchingType: 1, data: tlsaData(leaf, 1, 1) },
      { type: 'TLSA', usage: 0, selector: 0, matchingType: 1, data: tlsaData(leaf, 0, 1) },
    ]);
    const result = await check('pkix-tlsa.test', server.port);
    assertVerdict(result, 'refuse', 'certificate-not-trusted');
    assert.equal(result.evidence[0]!.policySource, 'pkix');
    assert.equal(result.evidence[0]!.tlsa?.usable, 0);
    assert.equal(server.sawMailFrom, false);
  });

  test('TLSA usage 0/1 only with a valid PKIX certificate: delivered by PKIX', async () => {
    const { server, leaf } = await tlsServer(['mx.pkix-tlsa-ok.test']);
    fx.dns.sign('pkix-tlsa-ok.test');
    publishMx(fx, 'pkix-tlsa-ok.test', [{ name: 'mx.pkix-tlsa-ok.test' }]);
    fx.dns.set(`_${server.port}._tcp.mx.pkix-tlsa-ok.test`, [
      { type: 'TLSA', usage: 1, selector: 1, matchingType: 1, data: tlsaData(leaf, 1, 1) },
    ]);
    assertDelivers(await check('pkix-tlsa-ok.test', server.port), 'pkix');
  });

  test('TLSA data of the wrong length (a 2-octet SHA-256, a 63-octet SHA-512) is unusable', async () => {
    const { server, leaf } = await tlsServer(['mx.tlsa-short.test']);
    fx.dns.sign('tlsa-short.test');
    publishMx(fx, 'tlsa-short.test', [{ name: 'mx.tlsa-short.test' }]);
    const name = `_${server.port}._tcp.mx.tlsa-short.test`;
    const malformed = [
      {
        type: 'TLSA' as const,
        usage: 3,
        selector: 1,
        matchingType: 1,
        data: Buffer.from('ab12', 'hex'),
      },
      {
        type: 'TLSA' as const,
        usage: 3,
        selector: 1,
        matchingType: 2,
        data: tlsaData(leaf, 1, 2).subarray(1),
      },
    ];
    fx.dns.set(name, malformed);
    const verified = await check('tlsa-short.test', server.port);
    assertDelivers(verified, 'pkix');
    assert.equal(verified.evidence[0]!.tlsa?.usable, 0);
    assertVerdict(
      await check('tlsa-short.test', server.port, { policyLevel: 'dane-only' }),
      'refuse',
      'dane-required',
    );
    // Next to a well-formed record, that one decides: a mismatch is refused, no PKIX.
    const other = await makeLeaf({ names: ['mx.tlsa-short.test'] });
    fx.dns.set(name, [
      ...malformed,
      { type: 'TLSA', usage: 3, selector: 1, matchingType: 2, data: tlsaData(other, 1, 2) },
    ]);
    assertVerdict(await check('tlsa-short.test', server.port), 'refuse', 'tlsa-invalid');
  });

  test('TLSA in an unsigned zone is not looked up: PKIX applies', async () => {
    const { server } = await tlsServer(['mx.unsigned-tlsa.test'], { issuer: null });
    publishMx(fx, 'unsigned-tlsa.test', [{ name: 'mx.unsigned-tlsa.test' }]);
    fx.dns.set(`_${server.port}._tcp.mx.unsigned-tlsa.test`, [
      { type: 'TLSA', usage: 3, selector: 1, matchingType: 1, data: Buffer.alloc(32) },
    ]);
    assertVerdict(
      await check('unsigned-tlsa.test', server.port),
      'refuse',
      'certificate-not-trusted',
    );
    assert.equal(fx.dns.count(`_${server.port}._tcp.mx.unsigned-tlsa.test`, 'TLSA'), 0);
  });
});

describe('MTA-STS', () => {
  function publishSts(domain: string, id: string, body: string, server = fx.policyServer): void {
    fx.dns.set(`_mta-sts.${domain}`, [{ type: 'TXT', data: `v=STSv1; id=${id}` }]);
    server.set(domain, { body });
  }

  test('enforce with a matching MX: delivered, authenticated by MTA-STS', async () => {
    const { server } = await tlsServer(['mx1.sts-match.test']);
    publishMx(fx, 'sts-match.test', [{ name: 'mx1.sts-match.test' }]);
    publishSts('sts-match.test', '20250101', policyText('enforce', ['*.sts-match.test']));
    const result = await openSecureSession(
      'sts-match.test',
      options(fx, server.port, { policyLevel: 'authenticated' }),
      deps(fx),
    );
    assertDelivers(result, 'mta-sts');
    assert.ok(result.verdict === 'deliver');
    const reply = await result.session.mail('a@securemail.test', { requireTls: true });
    assert.equal(reply.code, 250);
    await result.session.quit();
    assert.ok(server.commands.includes('tls: MAIL FROM:<a@securemail.test> REQUIRETLS'));
    assert.equal(result.domain.mtaSts?.policy?.id, '20250101');
    assert.equal(result.domain.mtaSts?.source, 'fetched');
  });

  test('enforce with a non-matching MX: refused, sts-mx-mismatch, no connection', async () => {
    const { server } = await tlsServer(['mx.sts-mismatch.test']);
    publishMx(fx, 'sts-mismatch.test', [{ name: 'mx.sts-mismatch.test' }]);
    // `*.sts-mismatch.test` would match; one extra label under `mail.` does not.
    publishSts('sts-mismatch.test', 'a1', policyText('enforce', ['*.mail.sts-mismatch.test']));
    assertVerdict(await check('sts-mismatch.test', server.port), 'refuse', 'sts-mx-mismatch');
    assert.equal(server.connections, 0);
  });

  test('testing mode gives no authentication: PKIX under verified, refused under authenticated', async () => {
    const { server } = await tlsServer(['mx.sts-testing.test']);
    publishMx(fx, 'sts-testing.test', [{ name: 'mx.sts-testing.test' }]);
    publishSts('sts-testing.test', 't1', policyText('testing', ['other.sts-testing.test']));
    assertDelivers(await check('sts-testing.test', server.port), 'pkix');
    const strict = await check('sts-testing.test', server.port, { policyLevel: 'authenticated' });
    assertVerdict(strict, 'refuse', 'pkix-insecure-mx');
    assert.equal(server.sawMailFrom, false);
  });

  test('cached enforce policy still applies when the TXT record is now missing', async () => {
    const cache = createMemoryStsPolicyCache();
    const { server } = await tlsServer(['mx.sts-cached.test', 'evil.sts-cached.test']);
    publishMx(fx, 'sts-cached.test', [{ name: 'mx.sts-cached.test' }]);
    publishSts('sts-cached.test', 'c1', policyText('enforce', ['mx.sts-cached.test']));
    assertDelivers(await check('sts-cached.test', server.port, {}, cache), 'mta-sts');
    // An attacker strips the TXT record, blocks the policy host and swaps the MX.
    fx.dns.remove('_mta-sts.sts-cached.test');
    fx.policyServer.remove('sts-cached.test');
    const again = await check(
      'sts-cached.test',
      server.port,
      { policyLevel: 'authenticated' },
      cache,
    );
    assertDelivers(again, 'mta-sts');
    assert.equal(again.domain.mtaSts?.source, 'cache');
    publishMx(fx, 'sts-cached.test', [{ name: 'evil.sts-cached.test' }]);
    const swapped = await check('sts-cached.test', server.port, {}, cache);
    assertVerdict(swapped, 'refuse', 'sts-mx-mismatch');
    assert.equal(server.sawMailFrom, false);
  });

  test('a changed TXT id refetches the policy; an expired cached policy no longer applies', async () => {
    const cache = createMemoryStsPolicyCache();
    const { server } = await tlsServer(['mx.sts-match.test']);
    publishMx(fx, 'sts-match.test', [{ name: 'mx.sts-match.test' }]);
    publishSts('sts-match.test', 'v1', policyText('enforce', ['mx.sts-match.test'], 60));
    const first = await check('sts-match.test', server.port, {}, cache);
    assert.equal(first.domain.mtaSts?.source, 'fetched');
    const cached = await check('sts-match.test', server.port, {}, cache);
    assert.equal(cached.domain.mtaSts?.source, 'cache');
    publishSts('sts-match.test', 'v2', policyText('testing', ['mx.sts-match.test'], 60));
    const changed = await check('sts-match.test', server.port, {}, cache);
    assert.equal(changed.domain.mtaSts?.source, 'fetched');
    assert.equal(changed.domain.mtaSts?.policy?.mode, 'testing');
    // Two minutes later the 60-second policy has expired; with the TXT record gone there
    // is no policy at all.
    fx.dns.remove('_mta-sts.sts-match.test');
    const later = new Date(Date.now() + 120_000);
    const expired = await check('sts-match.test', server.port, { now: () => later }, cache);
    assert.equal(expired.domain.mtaSts?.source, 'none');
    assertDelivers(expired, 'pkix');
  });

  test('a cached policy is refreshed before it expires, and a broken refresh keeps it', async () => {
    const cache = createMemoryStsPolicyCache();
    const { server } = await tlsServer(['mx.sts-cached.test']);
    publishMx(fx, 'sts-cached.test', [{ name: 'mx.sts-cached.test' }]);
    publishSts('sts-cached.test', 'r1', policyText('enforce', ['mx.sts-cached.test'], 600));
    const start = Date.now();
    const at = (seconds: number) => ({ now: () => new Date(start + seconds * 1000) });
    assert.equal(
      (await check('sts-cached.test', server.port, at(0), cache)).domain.mtaSts?.source,
      'fetched',
    );
    assert.equal(
      (await check('sts-cached.test', server.port, at(60), cache)).domain.mtaSts?.source,
      'cache',
    );
    // Past half of max_age, with the same id: fetched again, so the policy lives on.
    const refreshed = await check('sts-cached.test', server.port, at(400), cache);
    assert.equal(refreshed.domain.mtaSts?.source, 'fetched');
    // The first copy would have expired at 600 s; the refreshed one holds at 900 s even when
    // the download is now broken for good (an HTTP 404).
    fx.policyServer.remove('sts-cached.test');
    const broken = await check('sts-cached.test', server.port, at(900), cache);
    assert.equal(broken.domain.mtaSts?.source, 'cache');
    assert.equal(broken.domain.mtaSts?.policy?.mode, 'enforce');
    assertDelivers(broken, 'mta-sts');
  });

  test('a policy not served as text/plain, or larger than 64 KiB, is invalid: never used', async () => {
    const { server } = await tlsServer(['mx.sts-format.test']);
    publishMx(fx, 'sts-format.test', [{ name: 'mx.sts-format.test' }]);
    const body = policyText('enforce', ['mx.sts-format.test']);
    for (const [id, response] of [
      ['html', { body, contentType: 'text/html' }],
      ['big', { body: `${body}${'x: y\r\n'.repeat(14_000)}` }],
    ] as const) {
      publishSts('sts-format.test', id, response.body);
      fx.policyServer.set('sts-format.test', response);
      const strict = await check('sts-format.test', server.port, { policyLevel: 'authenticated' });
      assertVerdict(strict, 'refuse', 'sts-policy-invalid');
      assert.equal(strict.domain.mtaSts?.policy, undefined, id);
      assertDelivers(await check('sts-format.test', server.port), 'pkix');
    }
    assert.equal(server.commands.filter((c) => /MAIL FROM/.test(c)).length, 0);
  });

  test('a failed refresh is not tried again for a while: sessions do not each wait on the policy host', async () => {
    const cache = createMemoryStsPolicyCache();
    const { server } = await tlsServer(['mx.sts-pause.test']);
    publishMx(fx, 'sts-pause.test', [{ name: 'mx.sts-pause.test' }]);
    publishSts('sts-pause.test', 'p1', policyText('enforce', ['mx.sts-pause.test'], 7200));
    const start = Date.now();
    const at = (seconds: number) => ({ now: () => new Date(start + seconds * 1000) });
    const fetches = () => fx.policyServer.requests.filter((h) => h.includes('sts-pause')).length;
    assertDelivers(await check('sts-pause.test', server.port, at(0), cache), 'mta-sts');
    assert.equal(fetches(), 1);
    fx.policyServer.remove('sts-pause.test'); // every download fails from now on
    // The refresh is due at half of max_age (3,600 s) and fails; the cached policy applies.
    const failed = await check('sts-pause.test', server.port, at(3600), cache);
    assertDelivers(failed, 'mta-sts');
    assert.equal(fetches(), 2);
    // Sessions within STS_REFRESH_RETRY_SECONDS use the cache without asking the host.
    for (const seconds of [3601, 4000, 3600 + STS_REFRESH_RETRY_SECONDS - 1]) {
      assertDelivers(await check('sts-pause.test', server.port, at(seconds), cache), 'mta-sts');
    }
    assert.equal(fetches(), 2, 'no download during the pause');
    // After the pause it is asked again, and the cached policy still holds.
    const later = await check(
      'sts-pause.test',
      server.port,
      at(3600 + STS_REFRESH_RETRY_SECONDS),
      cache,
    );
    assertDelivers(later, 'mta-sts');
    assert.equal(fetches(), 3);
  });

  test('policy served with a redirect: not used (sts-policy-invalid), refused when authentication is required', async () => {
    const { server } = await tlsServer(['mx.sts-redirect.test']);
    publishMx(fx, 'sts-redirect.test', [{ name: 'mx.sts-redirect.test' }]);
    fx.dns.set('_mta-sts.sts-redirect.test', [{ type: 'TXT', data: 'v=STSv1; id=r1' }]);
    fx.policyServer.set('sts-redirect.test', {
      body: '',
      redirectTo: 'https://elsewhere.test/policy.txt',
    });
    // RFC 8461 5: without a usable (or cached) policy, deliver as if there were none.
    const verified = await check('sts-redirect.test', server.port);
    assertDelivers(verified, 'pkix');
    assert.equal(verified.domain.mtaSts?.error?.reason, 'sts-policy-invalid');
    const strict = await check('sts-redirect.test', server.port, { policyLevel: 'authenticated' });
    assertVerdict(strict, 'refuse', 'sts-policy-invalid');
    assert.equal(server.sawMailFrom, false);
  });

  test('policy served with an untrusted certificate: sts-webpki-invalid', async () => {
    const { server } = await tlsServer(['mx.sts-untrusted.test']);
    publishMx(fx, 'sts-untrusted.test', [{ name: 'mx.sts-untrusted.test' }]);
    publishSts(
      'sts-untrusted.test',
      'u1',
      policyText('enforce', ['mx.sts-untrusted.test']),
      fx.untrustedPolicyServer,
    );
    const port = fx.untrustedPolicyServer.port;
    const verified = await check('sts-untrusted.test', server.port, { mtaStsPort: port });
    assertDelivers(verified, 'pkix');
    assert.equal(verified.domain.mtaSts?.error?.reason, 'sts-webpki-invalid');
    const strict = await check('sts-untrusted.test', server.port, {
      mtaStsPort: port,
      policyLevel: 'authenticated',
    });
    assertVerdict(strict, 'refuse', 'sts-webpki-invalid');
  });

  test('DANE takes precedence over MTA-STS', async () => {
    const { server, leaf } = await tlsServer(['mx.sts-levels.test'], { issuer: null });
    fx.dns.sign('sts-levels.test');
    publishMx(fx, 'sts-levels.test', [{ name: 'mx.sts-levels.test' }]);
    publishSts('sts-levels.test', 'l1', policyText('enforce', ['nomatch.sts-levels.test']));
    fx.dns.set(`_${server.port}._tcp.mx.sts-levels.test`, [
      { type: 'TLSA', usage: 3, selector: 0, matchingType: 0, data: tlsaData(leaf, 0, 0) },
    ]);
    assertDelivers(await check('sts-levels.test', server.port), 'dane');
  });
});

describe('several MX hosts', () => {
  test('first MX down and second good: delivered by the second', async () => {
    const { server } = await tlsServer(['mx2.firstdown.test']);
    publishMx(fx, 'firstdown.test', [
      { name: 'mx1.firstdown.test', address: '127.0.0.2' },
      { name: 'mx2.firstdown.test', address: '127.0.0.1' },
    ]);
    const result = await check('firstdown.test', server.port);
    assertDelivers(result, 'pkix');
    assert.equal(result.evidence[0]!.reason, 'connection-failed');
    assert.equal(result.evidence[1]!.result, 'pass');
  });

  test('first MX insecure and second good: delivered by the second, nothing sent to the first', async () => {
    const { server: good } = await tlsServer(['mx2.firstbad.test']);
    const bad = await smtpServer({ host: '127.0.0.2', port: good.port });
    publishMx(fx, 'firstbad.test', [
      { name: 'mx1.firstbad.test', address: '127.0.0.2' },
      { name: 'mx2.firstbad.test', address: '127.0.0.1' },
    ]);
    const result = await check('firstbad.test', good.port);
    assertDelivers(result, 'pkix');
    assert.equal(result.evidence[0]!.reason, 'starttls-not-supported');
    assert.equal(bad.sawMailFrom, false);
  });

  test('all MX hosts insecure: refused with the reasons of each host', async () => {
    const { server: one } = await tlsServer(['wrong.allbad.test']);
    const two = await smtpServer({ host: '127.0.0.2', port: one.port });
    publishMx(fx, 'allbad.test', [
      { name: 'mx1.allbad.test', address: '127.0.0.1' },
      { name: 'mx2.allbad.test', address: '127.0.0.2' },
    ]);
    const result = await check('allbad.test', one.port);
    assertVerdict(result, 'refuse', 'certificate-host-mismatch');
    assert.ok(result.verdict !== 'deliver' && result.message.includes('starttls-not-supported'));
    assert.equal(one.sawMailFrom || two.sawMailFrom, false);
  });

  test('4xx greeting on the only host: deferred, smtp-temporary-error', async () => {
    const server = await smtpServer({ greeting: '421 4.3.2 Too busy' });
    publishMx(fx, 'busy.test', [{ name: 'mx.busy.test' }]);
    assertVerdict(await check('busy.test', server.port), 'defer', 'smtp-temporary-error');
  });

  test('4xx then success: a 4xx to MAIL is temporary, the retry on the session succeeds', async () => {
    const { server } = await tlsServer(
      ['mx.grey.test'],
      {},
      { mailReplies: ['451 4.7.1 Greylisted, try again'] },
    );
    publishMx(fx, 'grey.test', [{ name: 'mx.grey.test' }]);
    const result = await openSecureSession('grey.test', options(fx, server.port), deps(fx));
    assert.ok(result.verdict === 'deliver');
    const session = result.session;
    await assert.rejects(session.mail('a@securemail.test'), (error: unknown) => {
      assert.ok(error instanceof SmtpError);
      assert.equal(error.step, 'mail');
      assert.equal(error.code, 451);
      assert.equal(error.permanent, false);
      return true;
    });
    await session.rset();
    await session.mail('a@securemail.test');
    await session.rcpt('b@grey.test');
    const reply = await session.data(Buffer.from('Subject: x\r\n\r\nhello\r\n'));
    assert.equal(reply.code, 250);
    await session.quit();
    assert.equal(server.messages.length, 1);
  });
});

test('a large message streams through the verified session with dot-stuffing', async () => {
  const { server } = await tlsServer(['mx.stream.test']);
  publishMx(fx, 'stream.test', [{ name: 'mx.stream.test' }]);
  const result = await openSecureSession('stream.test', options(fx, server.port), deps(fx));
  assert.ok(result.verdict === 'deliver');
  const line = `.${'x'.repeat(998)}\n`;
  const chunks = Array.from({ length: 4000 }, () => line);
  await result.session.mail('a@securemail.test', { size: line.length * chunks.length });
  await result.session.rcpt('b@stream.test');
  const reply = await result.session.data(Readable.from(chunks));
  assert.equal(reply.code, 250);
  await result.session.quit();
  const received = server.messages[0]!.data.toString('latin1');
  assert.equal(received.length, (line.length + 1) * chunks.length);
  assert.ok(received.startsWith(`.${'x'.repeat(998)}\r\n`));
});

describe('DNS', () => {
  test('implicit MX: the domain itself is the mail host', async () => {
    const { server } = await tlsServer(['implicit.test']);
    fx.dns.set('implicit.test', [{ type: 'A', data: '127.0.0.1' }]);
    const result = await check('implicit.test', server.port);
    assertDelivers(result, 'pkix');
    assert.equal(result.evidence[0]!.implicitMx, true);
  });

  test('null MX: refused, null-mx, no connection', async () => {
    const server = await smtpServer({});
    fx.dns.set('nullmx.test', [{ type: 'MX', preference: 0, exchange: '.' }]);
    assertVerdict(await check('nullmx.test', server.port), 'refuse', 'null-mx');
    assert.equal(server.connections, 0);
  });

  test('NXDOMAIN: refused, no-such-domain', async () => {
    assertVerdict(await check('does-not-exist.test', 1), 'refuse', 'no-such-domain');
  });

  test('SERVFAIL on MX: deferred, dns-temporary-failure', async () => {
    fx.dns.fail('servfail.test', 'servfail', 'MX');
    assertVerdict(await check('servfail.test', 1), 'defer', 'dns-temporary-failure');
  });

  test('DNSSEC-bogus TLSA (SERVFAIL from the validating resolver): deferred, no connection', async () => {
    const { server } = await tlsServer(['mx.bogus.test']);
    fx.dns.sign('bogus.test');
    publishMx(fx, 'bogus.test', [{ name: 'mx.bogus.test' }]);
    fx.dns.fail(`_${server.port}._tcp.mx.bogus.test`, 'servfail', 'TLSA');
    assertVerdict(await check('bogus.test', server.port), 'defer', 'dns-temporary-failure');
    assert.equal(server.connections, 0);
  });

  test('DNSSEC-bogus MX answer: deferred', async () => {
    fx.dns.sign('bogusmx.test');
    fx.dns.fail('bogusmx.test', 'servfail', 'MX');
    assertVerdict(await check('bogusmx.test', 1), 'defer', 'dns-temporary-failure');
  });

  test('DNS timeout on MX: deferred', async () => {
    fx.dns.fail('slow.test', 'timeout', 'MX');
    assertVerdict(await check('slow.test', 1), 'defer', 'dns-temporary-failure');
  });
});

describe('account policy levels', () => {
  test('dane-only: DANE host delivered, PKIX host refused with dane-required', async () => {
    const { server, leaf } = await tlsServer(['mx.level-dane.test']);
    fx.dns.sign('level-dane.test');
    publishMx(fx, 'level-dane.test', [{ name: 'mx.level-dane.test' }]);
    fx.dns.set(`_${server.port}._tcp.mx.level-dane.test`, [
      { type: 'TLSA', usage: 3, selector: 1, matchingType: 2, data: tlsaData(leaf, 1, 2) },
    ]);
    assertDelivers(
      await check('level-dane.test', server.port, { policyLevel: 'dane-only' }),
      'dane',
    );
    const { server: pkix } = await tlsServer(['mx.level-pkix.test']);
    publishMx(fx, 'level-pkix.test', [{ name: 'mx.level-pkix.test' }]);
    assertVerdict(
      await check('level-pkix.test', pkix.port, { policyLevel: 'dane-only' }),
      'refuse',
      'dane-required',
    );
    assert.equal(pkix.connections, 0);
  });

  test('authenticated: PKIX-only host refused with pkix-insecure-mx', async () => {
    const { server } = await tlsServer(['mx.level-auth.test']);
    publishMx(fx, 'level-auth.test', [{ name: 'mx.level-auth.test' }]);
    assertVerdict(
      await check('level-auth.test', server.port, { policyLevel: 'authenticated' }),
      'refuse',
      'pkix-insecure-mx',
    );
    assert.equal(server.sawMailFrom, false);
  });

  test('verified (default): PKIX with the MX host name is enough', async () => {
    const { server } = await tlsServer(['mx.level-verified.test']);
    publishMx(fx, 'level-verified.test', [{ name: 'mx.level-verified.test' }]);
    assertDelivers(await check('level-verified.test', server.port), 'pkix');
  });
});

describe('session sources (how the worker offers its pooled sessions)', () => {
  test("an offered session is used only when the engine's own check accepts it", async () => {
    const { server } = await tlsServer(['mx.pool.test']);
    publishMx(fx, 'pool-a.test', [{ name: 'mx.pool.test' }]);
    publishMx(fx, 'pool-b.test', [{ name: 'mx.pool.test' }]);
    publishMx(fx, 'pool-c.test', [{ name: 'mx.elsewhere.test' }]);
    let opened: { client: SmtpClient; chain: X509Certificate[] } | undefined;
    const first = await openSecureSession('pool-a.test', options(fx, server.port), deps(fx), {
      opened: (_assessment, _host, _address, o) => {
        opened = { client: o.client, chain: o.chain };
      },
    });
    assertDelivers(first, 'pkix');
    assert.ok(opened !== undefined && first.verdict === 'deliver');
    assert.equal(opened.client, first.session);
    const pooled = opened;
    const offer = (evidence: HostEvidence) => ({ client: pooled.client, evidence });

    // Another domain on the same MX host: the check accepts, no new connection is made.
    const same = await openSecureSession('pool-b.test', options(fx, server.port), deps(fx), {
      reuse: (_assessment, host, _address, satisfies) =>
        satisfies(pooled.client, pooled.chain).ok ? offer(host.base) : undefined,
    });
    assertDelivers(same, 'pkix');
    assert.equal(same.verdict === 'deliver' && same.session, pooled.client);
    assert.equal(server.connections, 1);

    // A domain on another host: a source that offers the session anyway, past a failed
    // check or without asking, is not followed.
    for (const reuse of [
      (_a: unknown, host: JudgedHost, _ad: string, satisfies: Satisfies) => {
        assert.equal(satisfies(pooled.client, pooled.chain).ok, false);
        return offer(host.base);
      },
      (_a: unknown, host: JudgedHost) => offer(host.base),
    ]) {
      await assert.rejects(
        openSecureSession('pool-c.test', options(fx, server.port), deps(fx), { reuse }),
        /did not accept/,
      );
    }
    await first.session.quit();
  });
});
