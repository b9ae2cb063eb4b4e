// RFC 7672 2.2.2: an MX host that is an alias (CNAME) of a provider's host. When the chain
// is DNSSEC-secure, the TLSA records are looked up at the expanded name first and at the
// alias only when the expanded name securely has none; an insecure chain means no DANE.
// Before, only the alias was asked, so the provider's TLSA records were missed and the host
// was judged by a weaker method (PKIX) or refused as dane-required.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openSecureSession, type SecureSessionResult } from '../../src/security/open-session.ts';
import type { SecurityOptions } from '../../src/security/options.ts';
import { chainPem, makeLeaf, type TestCert } from '../support/certs.ts';
import type { TestSmtpServer } from '../support/smtp-server.ts';
import { deps, type Fixture, options, startFixture, tlsaData } from './fixture.ts';

let fx: Fixture;
before(async () => {
  fx = await startFixture();
});
after(async () => {
  await fx.close();
});

function server(leaf: TestCert, ...above: TestCert[]): Promise<TestSmtpServer> {
  return fx.smtpServer({ tls: { key: leaf.keyPem, cert: chainPem(leaf, ...above) } });
}

async function check(
  domain: string,
  port: number,
  extra: Partial<SecurityOptions> = {},
): Promise<SecureSessionResult> {
  const result = await openSecureSession(domain, options(fx, port, extra), deps(fx));
  if (result.verdict === 'deliver') await result.session.quit();
  return result;
}

function outcome(result: SecureSessionResult): string {
  return result.verdict === 'deliver'
    ? `deliver ${result.method}`
    : `${result.verdict} ${result.reason}: ${result.message}`;
}

/** `domain` MX mx.<domain>, an alias of mx.<provider> at 127.0.0.1. */
function publishAlias(domain: string, provider: string): void {
  fx.dns.set(domain, [{ type: 'MX', preference: 10, exchange: `mx.${domain}` }]);
  fx.dns.set(`mx.${domain}`, [{ type: 'CNAME', data: `mx.${provider}` }]);
  fx.dns.set(`mx.${provider}`, [{ type: 'A', data: '127.0.0.1' }]);
}

describe('DANE behind a CNAME (RFC 7672 2.2.2)', () => {
  test('secure chain: the TLSA records at the expanded name apply (DANE-EE)', async () => {
    const leaf = await makeLeaf({ names: ['whatever.invalid'] });
    const smtp = await server(leaf);
    for (const zone of ['alias-ee.test', 'provider-ee.test']) fx.dns.sign(zone);
    publishAlias('alias-ee.test', 'provider-ee.test');
    fx.dns.set(`_${smtp.port}._tcp.mx.provider-ee.test`, [
      { type: 'TLSA', usage: 3, selector: 1, matchingType: 1, data: tlsaData(leaf, 1, 1) },
    ]);
    for (const policyLevel of ['verified', 'dane-only'] as const) {
      const result = await check('alias-ee.test', smtp.port, { policyLevel });
      assert.equal(outcome(result), 'deliver dane');
      assert.equal(result.evidence[0]!.tlsa?.name, `_${smtp.port}._tcp.mx.provider-ee.test`);
    }
  });

  test('secure chain, DANE-TA: the certificate may name the expanded name; SNI carries it', async () => {
    const leaf = await makeLeaf({ names: ['mx.provider-ta.test'], issuer: fx.ca });
    const smtp = await server(leaf, fx.ca);
    for (const zone of ['alias-ta.test', 'provider-ta.test']) fx.dns.sign(zone);
    publishAlias('alias-ta.test', 'provider-ta.test');
    fx.dns.set(`_${smtp.port}._tcp.mx.provider-ta.test`, [
      { type: 'TLSA', usage: 2, selector: 1, matchingType: 1, data: tlsaData(fx.ca, 1, 1) },
    ]);
    const result = await check('alias-ta.test', smtp.port, { policyLevel: 'dane-only' });
    assert.equal(outcome(result), 'deliver dane');
    assert.deepEqual(smtp.servernames, ['mx.provider-ta.test']);
  });

  test('secure chain, no TLSA at the expanded name: the alias records apply', async () => {
    const leaf = await makeLeaf({ names: ['whatever.invalid'] });
    const smtp = await server(leaf);
    for (const zone of ['alias-own.test', 'provider-own.test']) fx.dns.sign(zone);
    publishAlias('alias-own.test', 'provider-own.test');
    fx.dns.set(`_${smtp.port}._tcp.mx.alias-own.test`, [
      { type: 'TLSA', usage: 3, selector: 1, matchingType: 1, data: tlsaData(leaf, 1, 1) },
    ]);
    const result = await check('alias-own.test', smtp.port);
    assert.equal(outcome(result), 'deliver dane');
    assert.equal(result.evidence[0]!.tlsa?.name, `_${smtp.port}._tcp.mx.alias-own.test`);
  });

  test('secure chain, the TLSA lookup at the expanded name fails: deferred, never PKIX', async () => {
    const leaf = await makeLeaf({ names: ['mx.alias-fail.test'], issuer: fx.ca });
    const smtp = await server(leaf, fx.ca);
    for (const zone of ['alias-fail.test', 'provider-fail.test']) fx.dns.sign(zone);
    publishAlias('alias-fail.test', 'provider-fail.test');
    fx.dns.set(`_${smtp.port}._tcp.mx.provider-fail.test`, [
      { type: 'TLSA', usage: 3, selector: 1, matchingType: 1, data: tlsaData(leaf, 1, 1) },
    ]);
    fx.dns.fail(`_${smtp.port}._tcp.mx.provider-fail.test`, 'bogus', 'TLSA');
    const result = await check('alias-fail.test', smtp.port);
    assert.match(outcome(result), /^defer dns-temporary-failure: /);
    assert.equal(smtp.sawMailFrom, false);
  });

  test('insecure chain (unsigned provider): no DANE, the TLSA records there are not used', async () => {
    const leaf = await makeLeaf({ names: ['whatever.invalid'] });
    const smtp = await server(leaf);
    fx.dns.sign('alias-insecure.test');
    publishAlias('alias-insecure.test', 'provider-insecure.test');
    fx.dns.set(`_${smtp.port}._tcp.mx.provider-insecure.test`, [
      { type: 'TLSA', usage: 3, selector: 1, matchingType: 1, data: tlsaData(leaf, 1, 1) },
    ]);
    const result = await check('alias-insecure.test', smtp.port);
    assert.match(outcome(result), /^refuse certificate-not-trusted: /);
  });
});
