// When DNS fails, lies or points inside: the cases of issue "fail closed on every DNS doubt".
// Each failed on the engine before the fix (delivered by a weaker method, refused as final,
// threw, or connected to an internal address) and must defer or refuse precisely now.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createResolver } from '../../src/dns/index.ts';
import { createMemoryStsPolicyCache } from '../../src/security/mta-sts-cache.ts';
import {
  MAX_HOSTS_ASSESSED,
  openSecureSession,
  type SecureSessionResult,
} from '../../src/security/open-session.ts';
import { makeLeaf } from '../support/certs.ts';
import { policyText } from '../support/https-policy-server.ts';
import type { TestSmtpOptions } from '../support/smtp-server.ts';
import {
  type CheckArgs,
  checkSession,
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

const tlsServer = (names: string[], extra: TestSmtpOptions = {}) => fx.tlsServer(names, {}, extra);

/** The verdict for mail to a domain, with this file's fixture. */
const check = (...args: CheckArgs) => checkSession(fx, ...args);

function outcome(result: SecureSessionResult): string {
  return result.verdict === 'deliver'
    ? `deliver ${result.method}`
    : `${result.verdict} ${result.reason}: ${result.message}`;
}

function assertVerdict(result: SecureSessionResult, verdict: string, reason: string): void {
  assert.equal(result.verdict, verdict, outcome(result));
  assert.equal(result.verdict !== 'deliver' && result.reason, reason, outcome(result));
}

describe('a DNS failure never downgrades authentication', () => {
  for (const how of ['servfail', 'bogus', 'timeout'] as const) {
    test(`secure A, AAAA ${how}, TLSA that does not match: deferred, never PKIX`, async () => {
      const domain = `aaaa-${how}.test`;
      const host = `mx.${domain}`;
      const { server } = await tlsServer([host]);
      const other = await makeLeaf({ names: [host], issuer: fx.ca });
      fx.dns.sign(domain);
      publishMx(fx, domain, [{ name: host }]);
      fx.dns.set(`_${server.port}._tcp.${host}`, [
        { type: 'TLSA', usage: 3, selector: 1, matchingType: 1, data: tlsaData(other, 1, 1) },
      ]);
      // With AAAA answering normally the host is refused: the TLSA record does not match.
      assertVerdict(await check(domain, server.port), 'refuse', 'tlsa-invalid');
      fx.dns.fail(host, how, 'AAAA');
      const result = await check(domain, server.port);
      assertVerdict(result, 'defer', 'dns-temporary-failure');
      assert.match(result.evidence[0]?.detail ?? '', /AAAA lookup for mx\.aaaa-/);
      assert.equal(server.sawMailFrom, false);
    });
  }

  test('a failing A lookup next to a secure AAAA is indeterminate too', async () => {
    const { server } = await tlsServer(['mx.a-fail.test']);
    fx.dns.sign('a-fail.test');
    fx.dns.set('a-fail.test', [{ type: 'MX', preference: 10, exchange: 'mx.a-fail.test' }]);
    fx.dns.set('mx.a-fail.test', [{ type: 'AAAA', data: '::1' }]);
    fx.dns.fail('mx.a-fail.test', 'servfail', 'A');
    assertVerdict(await check('a-fail.test', server.port), 'defer', 'dns-temporary-failure');
    assert.equal(server.connections, 0);
  });

  test('an indeterminate first host is skipped; a good second host delivers', async () => {
    const { server } = await tlsServer(['mx1.skip.test', 'mx2.skip.test']);
    publishMx(fx, 'skip.test', [{ name: 'mx1.skip.test' }, { name: 'mx2.skip.test' }]);
    fx.dns.fail('mx1.skip.test', 'timeout', 'AAAA');
    const result = await check('skip.test', server.port);
    assert.equal(result.verdict, 'deliver', outcome(result));
    assert.equal(result.evidence[0]?.reason, 'dns-temporary-failure');
    assert.equal(result.evidence[1]?.mxHost, 'mx2.skip.test');
  });

  test('an indeterminate host next to one refused as final: deferred, not refused', async () => {
    const { server } = await tlsServer(['wrong.name.test']);
    publishMx(fx, 'mixed.test', [{ name: 'mx1.mixed.test' }, { name: 'mx2.mixed.test' }]);
    fx.dns.fail('mx2.mixed.test', 'servfail', 'A');
    assertVerdict(await check('mixed.test', server.port), 'defer', 'dns-temporary-failure');
    assert.equal(server.sawMailFrom, false);
  });
});

describe('MTA-STS doubts', () => {
  function announce(domain: string, id: string): void {
    fx.dns.set(`_mta-sts.${domain}`, [{ type: 'TXT', data: `v=STSv1; id=${id}` }]);
  }

  test('_mta-sts TXT SERVFAIL at level authenticated: deferred, not refused as insecure', async () => {
    const { server } = await tlsServer(['mx.sts-txtfail.test']);
    publishMx(fx, 'sts-txtfail.test', [{ name: 'mx.sts-txtfail.test' }]);
    fx.dns.fail('_mta-sts.sts-txtfail.test', 'servfail', 'TXT');
    const strict = await check('sts-txtfail.test', server.port, { policyLevel: 'authenticated' });
    assertVerdict(strict, 'defer', 'dns-temporary-failure');
    assert.match(
      strict.verdict !== 'deliver' ? strict.message : '',
      /_mta-sts\.sts-txtfail\.test TXT/,
    );
    // At verified too: an unknown policy may forbid this host; PKIX must not decide alone.
    assertVerdict(await check('sts-txtfail.test', server.port), 'defer', 'dns-temporary-failure');
    assert.equal(server.sawMailFrom, false);
  });

  test('_mta-sts TXT failing with an enforce policy cached: the cached policy decides', async () => {
    const cache = createMemoryStsPolicyCache();
    const { server } = await tlsServer(['mx.sts-doubt.test']);
    publishMx(fx, 'sts-doubt.test', [{ name: 'mx.sts-doubt.test' }]);
    announce('sts-doubt.test', 'd1');
    fx.policyServer.set('sts-doubt.test', {
      body: policyText('enforce', ['mx.sts-doubt.test']),
    });
    const level = { policyLevel: 'authenticated' as const };
    assert.equal((await check('sts-doubt.test', server.port, level, cache)).verdict, 'deliver');
    fx.dns.fail('_mta-sts.sts-doubt.test', 'timeout', 'TXT');
    const again = await check('sts-doubt.test', server.port, level, cache);
    assert.equal(again.verdict, 'deliver', outcome(again));
    assert.equal(again.verdict === 'deliver' && again.method, 'mta-sts');
    assert.equal(again.domain.mtaSts?.source, 'cache');
  });

  test('the policy host unreachable at level authenticated: deferred, sts-policy-unreachable', async () => {
    const { server } = await tlsServer(['mx.sts-down.test']);
    publishMx(fx, 'sts-down.test', [{ name: 'mx.sts-down.test' }]);
    announce('sts-down.test', 'x1');
    // Nothing listens on the policy port at this loopback address: connection refused.
    fx.dns.set('mta-sts.sts-down.test', [{ type: 'A', data: '127.0.0.9' }]);
    const strict = await check('sts-down.test', server.port, { policyLevel: 'authenticated' });
    assertVerdict(strict, 'defer', 'sts-policy-unreachable');
    assertVerdict(await check('sts-down.test', server.port), 'defer', 'sts-policy-unreachable');
    assert.equal(server.sawMailFrom, false);
  });

  test('the policy host name failing in DNS: deferred', async () => {
    const { server } = await tlsServer(['mx.sts-hostfail.test']);
    publishMx(fx, 'sts-hostfail.test', [{ name: 'mx.sts-hostfail.test' }]);
    announce('sts-hostfail.test', 'h1');
    fx.dns.fail('mta-sts.sts-hostfail.test', 'servfail', 'A');
    const strict = await check('sts-hostfail.test', server.port, { policyLevel: 'authenticated' });
    assertVerdict(strict, 'defer', 'sts-policy-unreachable');
  });

  test('a busy policy host (HTTP 503, 429, 408) is a doubt: deferred at every level', async () => {
    const { server } = await tlsServer(['mx.sts-format.test']);
    publishMx(fx, 'sts-format.test', [{ name: 'mx.sts-format.test' }]);
    for (const status of [503, 429, 408]) {
      announce('sts-format.test', `b${status}`);
      fx.policyServer.set('sts-format.test', { status, body: 'busy' });
      for (const policyLevel of ['authenticated', 'verified'] as const) {
        const result = await check('sts-format.test', server.port, { policyLevel });
        assertVerdict(result, 'defer', 'sts-policy-unreachable');
      }
    }
    assert.equal(server.sawMailFrom, false);
  });

  test('a policy that is not there (HTTP 404) is no doubt: refused at authenticated, PKIX at verified', async () => {
    const { server } = await tlsServer(['mx.sts-404.test']);
    publishMx(fx, 'sts-404.test', [{ name: 'mx.sts-404.test' }]);
    announce('sts-404.test', 'n1');
    const strict = await check('sts-404.test', server.port, { policyLevel: 'authenticated' });
    assertVerdict(strict, 'refuse', 'sts-policy-fetch-error');
    const verified = await check('sts-404.test', server.port);
    assert.equal(verified.verdict === 'deliver' && verified.method, 'pkix', outcome(verified));
  });

  test('a DANE host is judged by DANE even when MTA-STS is in doubt', async () => {
    const { server, leaf } = await tlsServer(['mx.sts-dane.test']);
    fx.dns.sign('sts-dane.test');
    publishMx(fx, 'sts-dane.test', [{ name: 'mx.sts-dane.test' }]);
    fx.dns.set(`_${server.port}._tcp.mx.sts-dane.test`, [
      { type: 'TLSA', usage: 3, selector: 1, matchingType: 1, data: tlsaData(leaf, 1, 1) },
    ]);
    fx.dns.fail('_mta-sts.sts-dane.test', 'servfail', 'TXT');
    const result = await check('sts-dane.test', server.port, { policyLevel: 'authenticated' });
    assert.equal(result.verdict === 'deliver' && result.method, 'dane', outcome(result));
  });
});

describe('malformed answers fail one host', () => {
  test('an MX target with a space: that host fails, the good one delivers', async () => {
    const { server } = await tlsServer(['mx2.badname.test']);
    fx.dns.set('badname.test', [
      { type: 'MX', preference: 10, exchange: 'mx .badname.test' },
      { type: 'MX', preference: 20, exchange: 'mx2.badname.test' },
    ]);
    fx.dns.set('mx2.badname.test', [{ type: 'A', data: '127.0.0.1' }]);
    const result = await check('badname.test', server.port);
    assert.equal(result.verdict, 'deliver', outcome(result));
    assert.equal(result.evidence[0]?.reason, 'dns-invalid-answer');
    assert.match(result.evidence[0]?.detail ?? '', /"mx \.badname\.test" is not a valid host name/);
  });

  test('anything unexpected while one host is checked fails that host only (host-check-failed)', async () => {
    // A resolver that throws for one host's addresses stands in for any bug on the way: a
    // parser, a certificate, a library. The good host still delivers; with only the broken
    // host the recipient is deferred, never refused or judged by another method.
    const { server } = await tlsServer(['mx2.throws.test']);
    publishMx(fx, 'throws.test', [
      { name: 'mx1.throws.test', preference: 10 },
      { name: 'mx2.throws.test', preference: 20 },
    ]);
    publishMx(fx, 'onlythrows.test', [{ name: 'mx1.onlythrows.test' }]);
    const query: typeof fx.resolver.query = async (name, type) => {
      if (name.startsWith('mx1.')) throw new TypeError(`cannot read the ${type} answer`);
      return fx.resolver.query(name, type);
    };
    const throwing = new Proxy(fx.resolver, {
      get: (target, property) => {
        if (property === 'query') return query;
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const run = (domain: string) =>
      openSecureSession(domain, options(fx, server.port), {
        resolver: throwing,
        stsCache: createMemoryStsPolicyCache(),
      });

    const result = await run('throws.test');
    assert.equal(result.verdict, 'deliver', outcome(result));
    if (result.verdict === 'deliver') await result.session.quit();
    assert.equal(result.evidence[0]?.reason, 'host-check-failed');
    assert.match(
      result.evidence[0]?.detail ?? '',
      /the check of mx1\.throws\.test failed unexpectedly: cannot read the A answer/,
    );
    assertVerdict(await run('onlythrows.test'), 'defer', 'host-check-failed');
  });

  test('only malformed MX targets: deferred, dns-invalid-answer, nothing thrown', async () => {
    fx.dns.set('allbad.names.test', [
      { type: 'MX', preference: 10, exchange: 'mx\tone.names.test' },
    ]);
    assertVerdict(await check('allbad.names.test', 1), 'defer', 'dns-invalid-answer');
  });

  test('names too long for the TLSA or _mta-sts prefix: judged without them, nothing thrown', async () => {
    const label = 'a'.repeat(60);
    // 243 characters: a valid host name, but `_<port>._tcp.` in front exceeds 253.
    const host = `${label}.${label}.${label}.${'b'.repeat(50)}.long.test`;
    const { server } = await tlsServer([host]);
    fx.dns.sign('long.test');
    fx.dns.set('long.test', [{ type: 'MX', preference: 10, exchange: host }]);
    fx.dns.set(host, [{ type: 'A', data: '127.0.0.1' }]);
    const verified = await check('long.test', server.port);
    assert.equal(outcome(verified), 'deliver pkix');
    assertVerdict(
      await check('long.test', server.port, { policyLevel: 'dane-only' }),
      'refuse',
      'dane-required',
    );

    // A 250-character recipient domain: `_mta-sts.` in front exceeds 253.
    const domain = `${'c'.repeat(60)}.${'c'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(62)}.test`;
    fx.dns.set(domain, [{ type: 'MX', preference: 10, exchange: host }]);
    assert.equal(outcome(await check(domain, server.port)), 'deliver pkix');
  });
});

describe('the AD bit of an untrusted resolver', () => {
  test('DNSSEC counts as absent: no DANE; dane-only defers with dnssec-unavailable', async () => {
    const { server, leaf } = await tlsServer(['mx.untrusted.test']);
    fx.dns.sign('untrusted.test');
    publishMx(fx, 'untrusted.test', [{ name: 'mx.untrusted.test' }]);
    fx.dns.set(`_${server.port}._tcp.mx.untrusted.test`, [
      { type: 'TLSA', usage: 3, selector: 1, matchingType: 1, data: tlsaData(leaf, 1, 1) },
    ]);
    assert.equal(
      (await check('untrusted.test', server.port, { policyLevel: 'dane-only' })).verdict,
      'deliver',
    );
    const untrusting = createResolver({
      servers: [{ host: fx.dns.host, port: fx.dns.port }],
      trustAd: 'never',
      cache: false,
      timeoutMs: 1000,
      attempts: 1,
    });
    try {
      const depsUntrusted = { resolver: untrusting, stsCache: createMemoryStsPolicyCache() };
      const strict = await openSecureSession(
        'untrusted.test',
        options(fx, server.port, { policyLevel: 'dane-only' }),
        depsUntrusted,
      );
      assertVerdict(strict, 'defer', 'dnssec-unavailable');
      assert.deepEqual(strict.domain.resolvers, [
        { address: `127.0.0.1:${fx.dns.port}`, trustAd: false },
      ]);
      const verified = await openSecureSession(
        'untrusted.test',
        options(fx, server.port),
        depsUntrusted,
      );
      assert.equal(verified.verdict === 'deliver' && verified.method, 'pkix', outcome(verified));
      if (verified.verdict === 'deliver') await verified.session.quit();
    } finally {
      await untrusting.close();
    }
  });
});

describe('never connect to internal addresses', () => {
  test('an MX at 127.0.0.1 is refused with mx-address-forbidden, without a connection', async () => {
    const { server } = await tlsServer(['mx.inside.test']);
    publishMx(fx, 'inside.test', [{ name: 'mx.inside.test', address: '127.0.0.1' }]);
    const result = await check('inside.test', server.port, { allowNetworks: [] });
    assertVerdict(result, 'refuse', 'mx-address-forbidden');
    assert.equal(server.connections, 0);
    assert.deepEqual(result.evidence[0]?.transcript, []);
    assert.match(result.evidence[0]?.detail ?? '', /127\.0\.0\.1 \(loopback\)/);
  });

  for (const [address, range] of [
    ['10.1.2.3', 'private'],
    ['169.254.169.254', 'link-local'],
    ['100.64.1.1', 'carrier-grade NAT'],
    ['0.0.0.0', 'this network'],
  ] as const) {
    test(`an MX at ${address} (${range}) is refused`, async () => {
      const domain = `inside-${range.replaceAll(' ', '-')}.test`;
      publishMx(fx, domain, [{ name: `mx.${domain}`, address }]);
      const result = await check(domain, 25, { allowNetworks: [] });
      assertVerdict(result, 'refuse', 'mx-address-forbidden');
    });
  }

  test('IPv6 forms reaching inside are refused too (mapped, NAT64, unique-local)', async () => {
    for (const address of ['::1', '::ffff:127.0.0.1', '64:ff9b::a00:1', 'fd00::25', 'fe80::1']) {
      fx.dns.set('v6inside.test', [{ type: 'MX', preference: 10, exchange: 'mx.v6inside.test' }]);
      fx.dns.set('mx.v6inside.test', [{ type: 'AAAA', data: address }]);
      const result = await check('v6inside.test', 25, { allowNetworks: [] });
      assertVerdict(result, 'refuse', 'mx-address-forbidden');
    }
  });

  test('a long MX set that only points inside: at most MAX_HOSTS_ASSESSED hosts are looked up', async () => {
    const hosts = Array.from({ length: 60 }, (_, i) => ({
      name: `mx${i}.many.test`,
      address: `10.0.${i}.25`,
      preference: i,
    }));
    publishMx(fx, 'many.test', hosts);
    const asked = () => fx.dns.queries.filter((q) => /^mx\d+\.many\.test$/.test(q.name)).length;
    const before = asked();
    const result = await check('many.test', 25, { allowNetworks: [] });
    assertVerdict(result, 'refuse', 'mx-address-forbidden');
    assert.equal(result.evidence.length, MAX_HOSTS_ASSESSED);
    // A and AAAA per host looked at, nothing for the rest.
    assert.equal(asked() - before, 2 * MAX_HOSTS_ASSESSED);
  });

  test('a forbidden host next to a good one: the good one delivers', async () => {
    const { server } = await tlsServer(['mx2.half.test']);
    publishMx(fx, 'half.test', [
      { name: 'mx1.half.test', address: '10.0.0.25' },
      { name: 'mx2.half.test', address: '127.0.0.1' },
    ]);
    const result = await check('half.test', server.port, { allowNetworks: ['127.0.0.1/32'] });
    assert.equal(result.verdict, 'deliver', outcome(result));
    assert.equal(result.evidence[0]?.reason, 'mx-address-forbidden');
  });

  test('the MTA-STS policy host at an internal address is not fetched', async () => {
    const { server } = await tlsServer(['mx.sts-inside.test']);
    publishMx(fx, 'sts-inside.test', [{ name: 'mx.sts-inside.test', address: '127.0.0.1' }]);
    fx.dns.set('_mta-sts.sts-inside.test', [{ type: 'TXT', data: 'v=STSv1; id=i1' }]);
    const before = fx.policyServer.requests.length;
    // The MX network is allowed here so that only the policy host is judged.
    fx.dns.set('mta-sts.sts-inside.test', [{ type: 'A', data: '10.9.9.9' }]);
    const strict = await check('sts-inside.test', server.port, {
      policyLevel: 'authenticated',
      allowNetworks: ['127.0.0.0/8'],
    });
    assertVerdict(strict, 'refuse', 'sts-policy-fetch-error');
    assert.match(strict.domain.mtaSts?.error?.detail ?? '', /10\.9\.9\.9 \(private\)/);
    assert.equal(fx.policyServer.requests.length, before);
  });
});
