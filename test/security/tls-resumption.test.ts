// TLS session resumption in the security engine: a new connection to a host seen before
// resumes the TLS session of a full handshake this engine verified, and keeps that
// handshake's evidence; a server that does not resume makes a full handshake, whose
// certificate is verified as on any other connection; and a kept session is never offered
// for another host, address, port, method or policy level, nor after it is too old, nor when
// its certificates no longer satisfy the domain (mayResume).
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { JudgedHost, SessionSource } from '../../src/security/open-session.ts';
import { openSecureSession } from '../../src/security/open-session.ts';
import {
  mayResume,
  RESUMPTION_MAX_AGE_MS,
  type ResumableSession,
} from '../../src/security/tls-resumption.ts';
import { chainPem, makeLeaf, type TestCert } from '../support/certs.ts';
import { TestSmtpServer } from '../support/smtp-server.ts';
import { deps, type Fixture, options, publishMx, startFixture } from './fixture.ts';

let fx: Fixture;
const servers: TestSmtpServer[] = [];

before(async () => {
  fx = await startFixture();
});
after(async () => {
  for (const s of servers) await s.close();
  await fx.close();
});

/** A session source that keeps the TLS session of every verified connection and offers it. */
function keepingSource(): SessionSource & { kept: ResumableSession[]; offered: number } {
  const source = {
    kept: [] as ResumableSession[],
    offered: 0,
    opened(
      _a: unknown,
      _h: unknown,
      _address: string,
      opened: Parameters<NonNullable<SessionSource['opened']>>[3],
    ) {
      const session = opened.client.tlsSession;
      if (session !== undefined) source.kept.push({ handshake: opened.handshake, session });
    },
    resumable() {
      const found = source.kept.pop();
      if (found !== undefined) source.offered++;
      return found;
    },
  };
  return source;
}

async function serverFor(host: string, leaf: TestCert, port = 0): Promise<TestSmtpServer> {
  const server = await TestSmtpServer.start({
    port,
    name: host,
    tls: { key: leaf.keyPem, cert: chainPem(leaf) },
  });
  servers.push(server);
  return server;
}

describe('TLS session resumption', () => {
  test('a new connection resumes the verified session and keeps its evidence', async () => {
    const host = 'mx.resume.test';
    publishMx(fx, 'resume.test', [{ name: host }]);
    const server = await serverFor(host, await makeLeaf({ names: [host], issuer: fx.ca }));
    const source = keepingSource();
    const first = await openSecureSession(
      'resume.test',
      options(fx, server.port),
      deps(fx),
      source,
    );
    assert.equal(first.verdict, 'deliver');
    if (first.verdict !== 'deliver') return;
    assert.equal(first.session.tlsSocket?.isSessionReused(), false);
    await first.session.quit();
    assert.equal(source.kept.length, 1, 'the first connection gave a TLS session to keep');
    const firstHost = first.evidence.at(-1)!;

    const second = await openSecureSession(
      'resume.test',
      options(fx, server.port),
      deps(fx),
      source,
    );
    assert.equal(second.verdict, 'deliver', JSON.stringify(second.evidence));
    if (second.verdict !== 'deliver') return;
    assert.equal(source.offered, 1);
    assert.equal(second.session.tlsSocket?.isSessionReused(), true, 'the server resumed');
    const resumed = second.evidence.at(-1)!;
    assert.ok(resumed.resumed !== undefined, 'the evidence says the session was resumed');
    assert.ok(resumed.resumed.verifiedAt >= firstHost.startedAt);
    assert.ok(resumed.resumed.verifiedAt <= resumed.startedAt);
    assert.equal(resumed.certificate?.sha256, firstHost.certificate?.sha256);
    assert.match(
      resumed.validation.join('\n'),
      /resumption offered: pkix: chain, validity and name ok/,
    );
    assert.match(resumed.validation.join('\n'), /session resumed; no certificate presented/);
    assert.equal(second.method, 'pkix');
    // It is a verified session like any other: it carries mail.
    const reply = await second.session.send(
      'b@sender.test',
      'r@resume.test',
      Buffer.from('Subject: x\r\n\r\nhi\r\n'),
    );
    assert.equal(reply.code, 250);
    await second.session.quit();
  });

  test('a server that does not resume makes a full handshake, and its certificate is checked', async () => {
    const host = 'mx.resume-bad.test';
    publishMx(fx, 'resume-bad.test', [{ name: host }]);
    const good = await serverFor(host, await makeLeaf({ names: [host], issuer: fx.ca }));
    const source = keepingSource();
    const first = await openSecureSession(
      'resume-bad.test',
      options(fx, good.port),
      deps(fx),
      source,
    );
    assert.equal(first.verdict, 'deliver');
    if (first.verdict === 'deliver') await first.session.quit();
    const port = good.port;
    await good.close();
    // Another server on the same address and port: new ticket keys (it cannot resume the
    // session) and a certificate for another name.
    const impostor = await serverFor(
      host,
      await makeLeaf({ names: ['mx.elsewhere.test'], issuer: fx.ca }),
      port,
    );
    const second = await openSecureSession('resume-bad.test', options(fx, port), deps(fx), source);
    assert.equal(source.offered, 1, 'the kept session was offered');
    assert.equal(second.verdict, 'refuse');
    assert.equal((second as { reason?: string }).reason, 'certificate-host-mismatch');
    assert.equal(second.evidence.at(-1)!.resumed, undefined);
    assert.equal(impostor.sawMailFrom, false);
  });

  test('mayResume: only the same host, address, port, method and level, while young and valid', async () => {
    const host = 'mx.rules.test';
    const leaf = await makeLeaf({ names: [host], issuer: fx.ca });
    const chain = [new X509Certificate(leaf.pem)];
    const now = new Date();
    const kept: ResumableSession = {
      session: Buffer.from('not a real session'),
      handshake: {
        host,
        address: '192.0.2.1',
        port: 25,
        method: 'pkix',
        level: 'verified',
        chain,
        authorized: true,
        verifiedAt: now.getTime() - 1000,
        evidence: { validation: ['pkix: chain, validity and name ok'] },
      },
    };
    const judged = (method: JudgedHost['method'], name = host): JudgedHost => ({
      ok: true,
      host: { host: name, preference: 10, implicit: false },
      addresses: ['192.0.2.1'],
      method,
      tlsa: [],
      tlsaBase: name,
      base: {
        recipientDomain: 'rules.test',
        mxHost: name,
        mxPreference: 10,
        implicitMx: false,
        dnssec: { mx: 'insecure' },
        validation: [],
        transcript: [],
        startedAt: '',
        finishedAt: '',
        result: 'fail',
      },
    });
    const check = (
      h: JudgedHost,
      address = '192.0.2.1',
      port = 25,
      level = 'verified' as const,
      at = now,
    ) => mayResume(kept, h, address, port, level, 'rules.test', at);
    assert.equal(check(judged('pkix')).ok, true);
    assert.equal(check(judged('pkix', 'mx.other.test')).ok, false, 'another host');
    assert.equal(check(judged('pkix'), '192.0.2.2').ok, false, 'another address');
    assert.equal(check(judged('pkix'), '192.0.2.1', 26).ok, false, 'another port');
    assert.equal(
      check(judged('dane')).ok,
      false,
      'a PKIX session is never resumed where DANE is required',
    );
    assert.equal(check(judged('mta-sts')).ok, false, 'nor where MTA-STS is');
    assert.equal(
      mayResume(kept, judged('pkix'), '192.0.2.1', 25, 'authenticated', 'rules.test', now).ok,
      false,
      'another policy level',
    );
    assert.equal(
      check(
        judged('pkix'),
        '192.0.2.1',
        25,
        'verified',
        new Date(now.getTime() + RESUMPTION_MAX_AGE_MS),
      ).ok,
      false,
      'too old',
    );
    const expired = new Date(new Date(chain[0]!.validTo).getTime() + 1000);
    const young = {
      ...kept,
      handshake: { ...kept.handshake, verifiedAt: expired.getTime() - 1000 },
    };
    assert.equal(
      mayResume(young, judged('pkix'), '192.0.2.1', 25, 'verified', 'rules.test', expired).ok,
      false,
      'the certificate verified then has expired now',
    );
    const unvalidated = { ...kept, handshake: { ...kept.handshake, authorized: false } };
    assert.equal(
      mayResume(unvalidated, judged('pkix'), '192.0.2.1', 25, 'verified', 'rules.test', now).ok,
      false,
      'a chain OpenSSL did not validate',
    );
  });
});
