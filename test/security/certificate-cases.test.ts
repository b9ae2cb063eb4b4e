// The certificate cases of SECURITY_POLICY.md that attacks were seen with (issue #10, item 3),
// end to end like cases.test.ts: the real DNS client against the in-process DNS server,
// in-process SMTP and HTTPS servers presenting chains made here, no TLS mocked.
// - DANE-TA: every certificate from the trust anchor down to the leaf's issuer must be a CA
//   (basicConstraints CA:TRUE, keyCertSign when keyUsage is present, pathLen honoured); an
//   ordinary server certificate under the anchor must not be able to sign a leaf.
// - Names: only a whole left-most `*` label is a wildcard; `m*.example` never matches, for
//   PKIX, DANE-TA and the MTA-STS policy host alike.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SecureSessionResult } from '../../src/security/open-session.ts';
import type { SecurityOptions } from '../../src/security/options.ts';
import {
  chainPem,
  extension,
  makeCa,
  makeLeaf,
  permitOnlyDnsNames,
  type TestCert,
} from '../support/certs.ts';
import { HttpsPolicyServer, policyText } from '../support/https-policy-server.ts';
import { type TestSmtpOptions, TestSmtpServer } from '../support/smtp-server.ts';
import {
  type CheckArgs,
  checkSession,
  type Fixture,
  publishMx,
  startFixture,
  tlsaData,
} from './fixture.ts';

let fx: Fixture;
const servers: Array<{ close(): Promise<void> }> = [];

before(async () => {
  fx = await startFixture();
});
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await fx.close();
});

async function smtpServer(tls: TestSmtpOptions['tls']): Promise<TestSmtpServer> {
  const server = await TestSmtpServer.start({ tls });
  servers.push(server);
  return server;
}

/** The verdict for mail to a domain, with this file's fixture. */
const check = (...args: CheckArgs) => checkSession(fx, ...args);

function describeResult(result: SecureSessionResult): string {
  return JSON.stringify(result.evidence.map((e) => [e.mxHost, e.reason, e.detail]));
}

function assertRefused(result: SecureSessionResult, reason: string, detail?: RegExp): void {
  assert.equal(result.verdict, 'refuse', describeResult(result));
  assert.equal(result.reason, reason, describeResult(result));
  if (detail) assert.match(result.evidence[0]?.detail ?? '', detail);
}

function assertDelivers(result: SecureSessionResult, method: string): void {
  const detail = result.verdict === 'deliver' ? '' : `${result.reason}: ${result.message}`;
  assert.equal(result.verdict, 'deliver', detail);
  assert.equal(result.verdict === 'deliver' && result.method, method);
}

/**
 * `mx.<domain>` in a DNSSEC-signed zone, serving `leaf` followed by `above`, with one
 * DANE-TA record (2 1 1) for `anchor`.
 */
async function daneTaHost(
  domain: string,
  leaf: TestCert,
  above: TestCert[],
  anchor: TestCert,
): Promise<TestSmtpServer> {
  const server = await smtpServer({ key: leaf.keyPem, cert: chainPem(leaf, ...above) });
  fx.dns.sign(domain);
  publishMx(fx, domain, [{ name: `mx.${domain}` }]);
  fx.dns.set(`_${server.port}._tcp.mx.${domain}`, [
    { type: 'TLSA', usage: 2, selector: 1, matchingType: 1, data: tlsaData(anchor, 1, 1) },
  ]);
  return server;
}

// No extraCa in the DANE cases: the test CA must be trusted through TLSA alone.
const DANE_ONLY: Partial<SecurityOptions> = { extraCa: [] };

describe('DANE-TA: every certificate above the leaf must be a CA', () => {
  test('anchor -> ordinary server certificate (CA:FALSE, no keyUsage) -> forged leaf: refused', async () => {
    const server = await makeCa('www.attacker.test', { issuer: fx.ca, ca: false, keyUsage: null });
    const forged = await makeLeaf({ names: ['mx.ta-nonca.test'], issuer: server });
    const smtp = await daneTaHost('ta-nonca.test', forged, [server, fx.ca], fx.ca);
    assertRefused(
      await check('ta-nonca.test', smtp.port, DANE_ONLY),
      'tlsa-invalid',
      /certificate 1 \(CN=www\.attacker\.test\) is not a CA \(basicConstraints CA:FALSE\)/,
    );
    assert.equal(smtp.sawMailFrom, false);
  });

  test('an intermediate without basicConstraints at all: refused', async () => {
    const signer = await makeCa('No Constraints Signer', {
      issuer: fx.ca,
      ca: null,
      keyUsage: null,
    });
    const forged = await makeLeaf({ names: ['mx.ta-nobc.test'], issuer: signer });
    const smtp = await daneTaHost('ta-nobc.test', forged, [signer, fx.ca], fx.ca);
    assertRefused(
      await check('ta-nobc.test', smtp.port, DANE_ONLY),
      'tlsa-invalid',
      /certificate 1 \(CN=No Constraints Signer\) is not a CA \(no basicConstraints\)/,
    );
    assert.equal(smtp.sawMailFrom, false);
  });

  test('the TLSA record names the ordinary certificate itself: refused, a trust anchor is a CA', async () => {
    const server = await makeCa('www.ta-self.test', { issuer: fx.ca, ca: false, keyUsage: null });
    const forged = await makeLeaf({ names: ['mx.ta-self.test'], issuer: server });
    const smtp = await daneTaHost('ta-self.test', forged, [server], server);
    assertRefused(
      await check('ta-self.test', smtp.port, DANE_ONLY),
      'tlsa-invalid',
      /certificate 1 \(CN=www\.ta-self\.test\) is not a CA/,
    );
    assert.equal(smtp.sawMailFrom, false);
  });

  test('an intermediate CA whose keyUsage lacks keyCertSign: refused', async () => {
    const intermediate = await makeCa('No CertSign Intermediate', {
      issuer: fx.ca,
      keyUsage: 0x01, // digitalSignature only
    });
    const leaf = await makeLeaf({ names: ['mx.ta-ku.test'], issuer: intermediate });
    const smtp = await daneTaHost('ta-ku.test', leaf, [intermediate, fx.ca], fx.ca);
    // This one was refused before the CA checks too, by accident: Node links the presented
    // certificates with OpenSSL's X509_check_issued, which already drops an issuer whose
    // keyUsage lacks keyCertSign, so the anchor was never reached. units.test.ts checks
    // verifyDane itself with the full chain.
    assertRefused(await check('ta-ku.test', smtp.port, DANE_ONLY), 'tlsa-invalid');
    assert.equal(smtp.sawMailFrom, false);
  });

  test('an anchor with pathLen 0 above an intermediate CA: refused', async () => {
    const root = await makeCa('PathLen Zero Root', { pathLength: 0 });
    const intermediate = await makeCa('PathLen Intermediate', { issuer: root });
    const leaf = await makeLeaf({ names: ['mx.ta-pathlen.test'], issuer: intermediate });
    const smtp = await daneTaHost('ta-pathlen.test', leaf, [intermediate, root], root);
    assertRefused(
      await check('ta-pathlen.test', smtp.port, DANE_ONLY),
      'tlsa-invalid',
      /certificate 2 \(CN=PathLen Zero Root\) allows 0 intermediate CAs below it, the chain has 1/,
    );
    assert.equal(smtp.sawMailFrom, false);
  });

  test('a proper intermediate CA within the pathLen: delivered, to the root or the intermediate', async () => {
    const root = await makeCa('PathLen One Root', { pathLength: 1 });
    const intermediate = await makeCa('Proper Intermediate', { issuer: root, pathLength: 0 });
    const leaf = await makeLeaf({
      names: ['mx.ta-proper.test', 'mx.ta-proper2.test'],
      issuer: intermediate,
    });
    const smtp = await daneTaHost('ta-proper.test', leaf, [intermediate, root], root);
    assertDelivers(await check('ta-proper.test', smtp.port, DANE_ONLY), 'dane');
    const smtp2 = await daneTaHost('ta-proper2.test', leaf, [intermediate, root], intermediate);
    assertDelivers(await check('ta-proper2.test', smtp2.port, DANE_ONLY), 'dane');
  });
});

describe('DANE-TA: constraints a CA puts on what it signs', () => {
  test('a sub-CA constrained to another organisation’s names cannot sign for the MX host', async () => {
    const constrained = await makeCa('Other Org Sub-CA', {
      issuer: fx.ca,
      extensions: [permitOnlyDnsNames('other-org.test')],
    });
    const forged = await makeLeaf({ names: ['mx.ta-nc.test'], issuer: constrained });
    const smtp = await daneTaHost('ta-nc.test', forged, [constrained, fx.ca], fx.ca);
    assertRefused(
      await check('ta-nc.test', smtp.port, DANE_ONLY),
      'tlsa-invalid',
      /certificate 1 \(CN=Other Org Sub-CA\) may not sign for mx\.ta-nc\.test \(nameConstraints\)/,
    );
    assert.equal(smtp.sawMailFrom, false);
  });

  test('within its permitted names the constrained sub-CA is fine', async () => {
    const constrained = await makeCa('Own Sub-CA', {
      issuer: fx.ca,
      extensions: [permitOnlyDnsNames('ta-nc-ok.test')],
    });
    const leaf = await makeLeaf({ names: ['mx.ta-nc-ok.test'], issuer: constrained });
    const smtp = await daneTaHost('ta-nc-ok.test', leaf, [constrained, fx.ca], fx.ca);
    assertDelivers(await check('ta-nc-ok.test', smtp.port, DANE_ONLY), 'dane');
  });

  test('a CA with a critical extension nobody understands signs nothing', async () => {
    const odd = await makeCa('Odd Critical Sub-CA', {
      issuer: fx.ca,
      extensions: [extension('1.3.6.1.4.1.99999.1', true, new Uint8Array([5, 0]))],
    });
    const leaf = await makeLeaf({ names: ['mx.ta-crit.test'], issuer: odd });
    const smtp = await daneTaHost('ta-crit.test', leaf, [odd, fx.ca], fx.ca);
    assertRefused(
      await check('ta-crit.test', smtp.port, DANE_ONLY),
      'tlsa-invalid',
      /critical extension that is not understood \(1\.3\.6\.1\.4\.1\.99999\.1\)/,
    );
  });
});

describe('certificate names: only a whole left-most `*` label is a wildcard', () => {
  async function pkixHost(domain: string, leaf: TestCert): Promise<TestSmtpServer> {
    const smtp = await smtpServer({ key: leaf.keyPem, cert: chainPem(leaf) });
    publishMx(fx, domain, [{ name: `mx.${domain}` }]);
    return smtp;
  }

  test('PKIX: a partial wildcard m*.<domain> does not name mx.<domain>', async () => {
    const leaf = await makeLeaf({ names: ['m*.pw-pkix.test'], issuer: fx.ca });
    const smtp = await pkixHost('pw-pkix.test', leaf);
    assertRefused(await check('pw-pkix.test', smtp.port), 'certificate-host-mismatch');
    assert.equal(smtp.sawMailFrom, false);
  });

  test('PKIX: a partial wildcard in the subject CN (no SAN) does not name the host either', async () => {
    const leaf = await makeLeaf({ names: [], commonName: '*x.pw-cn.test', issuer: fx.ca });
    const smtp = await pkixHost('pw-cn.test', leaf);
    assertRefused(await check('pw-cn.test', smtp.port), 'certificate-host-mismatch');
    assert.equal(smtp.sawMailFrom, false);
  });

  test('PKIX: a whole-label wildcard *.<domain> still names mx.<domain>', async () => {
    const leaf = await makeLeaf({ names: ['*.pw-ok.test'], issuer: fx.ca });
    const smtp = await pkixHost('pw-ok.test', leaf);
    assertDelivers(await check('pw-ok.test', smtp.port), 'pkix');
  });

  test('DANE-TA: a partial wildcard leaf under the anchor is refused', async () => {
    const leaf = await makeLeaf({ names: ['m*.pw-dane.test'], issuer: fx.ca });
    const smtp = await daneTaHost('pw-dane.test', leaf, [fx.ca], fx.ca);
    assertRefused(await check('pw-dane.test', smtp.port, DANE_ONLY), 'certificate-host-mismatch');
    assert.equal(smtp.sawMailFrom, false);
  });

  test('DANE-TA: a whole-label wildcard leaf under the anchor is delivered', async () => {
    const leaf = await makeLeaf({ names: ['*.pw-dane-ok.test'], issuer: fx.ca });
    const smtp = await daneTaHost('pw-dane-ok.test', leaf, [fx.ca], fx.ca);
    assertDelivers(await check('pw-dane-ok.test', smtp.port, DANE_ONLY), 'dane');
  });

  test('MTA-STS: a policy host whose certificate names it only by a partial wildcard is not trusted', async () => {
    // One HTTPS server for two domains: mta-sts.sts-partial.test is named only by the
    // partial wildcard, mta-sts.sts-wild.test by a proper one (the control).
    const policyLeaf = await makeLeaf({
      names: ['mta-*.sts-partial.test', '*.sts-wild.test'],
      issuer: fx.ca,
    });
    const policyServer = await HttpsPolicyServer.start({
      key: policyLeaf.keyPem,
      cert: policyLeaf.pem,
    });
    servers.push(policyServer);
    const stsPort = { mtaStsPort: policyServer.port };
    for (const domain of ['sts-partial.test', 'sts-wild.test']) {
      fx.dns.set(`mta-sts.${domain}`, [{ type: 'A', data: '127.0.0.1' }]);
      fx.dns.set(`_mta-sts.${domain}`, [{ type: 'TXT', data: 'v=STSv1; id=w1' }]);
      policyServer.set(domain, { body: policyText('enforce', [`mx.${domain}`]) });
    }
    const partialMx = await makeLeaf({ names: ['mx.sts-partial.test'], issuer: fx.ca });
    const partial = await pkixHost('sts-partial.test', partialMx);
    const verified = await check('sts-partial.test', partial.port, stsPort);
    assertDelivers(verified, 'pkix');
    assert.equal(verified.domain.mtaSts?.error?.reason, 'sts-webpki-invalid');
    const strict = await check('sts-partial.test', partial.port, {
      ...stsPort,
      policyLevel: 'authenticated',
    });
    assertRefused(strict, 'sts-webpki-invalid');

    const wildMx = await makeLeaf({ names: ['mx.sts-wild.test'], issuer: fx.ca });
    const wild = await pkixHost('sts-wild.test', wildMx);
    const authenticated = await check('sts-wild.test', wild.port, {
      ...stsPort,
      policyLevel: 'authenticated',
    });
    assertDelivers(authenticated, 'mta-sts');
  });
});
