// Whose AD bit is believed (SECUREMAIL_DNS_TRUST_AD), what a failed lookup says about itself,
// and the start-up probe that asks each resolver whether it validates DNSSEC.
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { networkInterfaces } from 'node:os';
import { after, before, beforeEach, test } from 'node:test';
import { createResolver, daneAvailable, probeResolvers } from '../../src/dns/index.ts';
import { TestDnsServer } from '../support/dns-server.ts';
import { FAST_TIMEOUT_MS, resolverFor } from './helpers.ts';

let dns: TestDnsServer;
before(async () => {
  dns = await TestDnsServer.start();
});
beforeEach(() => dns.reset());
after(() => dns.close());

/** A local IPv4 address that is not loopback, if the machine has one (CI machines do). */
function otherLocalAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const entry of list ?? []) {
      if (entry.family === 'IPv4' && !entry.internal) return entry.address;
    }
  }
  return undefined;
}

/** A UDP port on loopback where nothing listens (bound, then closed). */
async function closedPort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

test('by default only resolvers on a loopback address are trusted for the AD bit', () => {
  const resolver = createResolver({
    servers: [
      { host: '127.0.0.1', port: 53 },
      { host: '::1', port: 53 },
      { host: '127.0.0.53', port: 53 },
      { host: '192.0.2.53', port: 53 },
      { host: '2001:db8::53', port: 5353 },
    ],
  });
  assert.deepEqual(resolver.servers, [
    { address: '127.0.0.1:53', trustAd: true },
    { address: '[::1]:53', trustAd: true },
    { address: '127.0.0.53:53', trustAd: true },
    { address: '192.0.2.53:53', trustAd: false },
    { address: '[2001:db8::53]:5353', trustAd: false },
  ]);
  const always = createResolver({ servers: [{ host: '192.0.2.53', port: 53 }], trustAd: 'always' });
  assert.deepEqual(always.servers, [{ address: '192.0.2.53:53', trustAd: true }]);
  const never = createResolver({ servers: [{ host: '127.0.0.1', port: 53 }], trustAd: 'never' });
  assert.deepEqual(never.servers, [{ address: '127.0.0.1:53', trustAd: false }]);
});

test('a remote resolver that sets AD is not believed unless the operator says so', async (t) => {
  const address = otherLocalAddress();
  if (address === undefined) {
    t.skip('no non-loopback address on this machine');
    return;
  }
  const remote = await TestDnsServer.start(address);
  t.after(() => remote.close());
  remote.set('signed.example', [{ type: 'MX', preference: 10, exchange: 'mx.signed.example' }]);
  remote.sign('signed.example');

  const auto = resolverFor(t, [remote], { cache: false });
  const answer = await auto.query('signed.example', 'MX');
  assert.equal(answer.outcome, 'ok');
  assert.equal(answer.secure, false, 'the AD bit crossed a network: not believed');
  assert.equal(answer.adTrusted, false);
  assert.equal(answer.server, `${address}:${remote.port}`);

  const vouched = resolverFor(t, [remote], { cache: false, trustAd: 'always' });
  const believed = await vouched.query('signed.example', 'MX');
  assert.equal(believed.secure, true);
  assert.equal(believed.adTrusted, true);
});

test('a resolver whose AD bit is not trusted never stands in for one that is', async (t) => {
  const address = otherLocalAddress();
  if (address === undefined) {
    t.skip('no non-loopback address on this machine');
    return;
  }
  const remote = await TestDnsServer.start(address);
  t.after(() => remote.close());
  for (const server of [dns, remote]) {
    server.set('signed.example', [{ type: 'A', data: '192.0.2.1' }]);
    server.sign('signed.example');
  }
  // Listed first, the remote resolver is still not asked while a trusted one is configured.
  const remoteFirst = resolverFor(t, [remote, dns], { cache: false });
  const answer = await remoteFirst.query('signed.example', 'A');
  assert.equal(answer.secure, true);
  assert.equal(answer.server, `127.0.0.1:${dns.port}`);

  // The loopback (validating) resolver reports bogus data: the remote one's answer would
  // read as "insecure" and switch DANE off, so it is not asked and the lookup fails.
  dns.fail('signed.example', 'bogus');
  const resolver = resolverFor(t, [dns, remote], { cache: false, timeoutMs: FAST_TIMEOUT_MS });
  const failed = await resolver.query('signed.example', 'A');
  assert.equal(failed.outcome, 'servfail');
  assert.equal(failed.secure, false);
  assert.doesNotMatch(failed.problem ?? '', new RegExp(address.replaceAll('.', '\\.')));

  // The start-up probe says so for the remote one.
  const probes = await probeResolvers(
    [
      { host: dns.host, port: dns.port },
      { host: remote.host, port: remote.port },
    ],
    'auto',
    1000,
  );
  assert.doesNotMatch(probes[0]?.summary ?? '', /not asked/);
  assert.match(probes[1]?.summary ?? '', /not asked: a resolver whose AD bit is trusted/);

  // Without any trusted resolver, every configured one is asked, and nothing is secure.
  const untrusting = resolverFor(t, [dns, remote], { cache: false, trustAd: 'never' });
  const plain = await untrusting.query('signed.example', 'A');
  assert.equal(plain.outcome, 'ok');
  assert.equal(plain.secure, false);
  assert.equal(plain.server, `${address}:${remote.port}`);
});

test('a failure says which resolver did what: SERVFAIL, REFUSED, bogus, silence, refused port', async (t) => {
  dns.set('a.example', [{ type: 'A', data: '192.0.2.1' }]);
  dns.fail('a.example', 'servfail', 'A');
  dns.set('b.example', [{ type: 'A', data: '192.0.2.1' }]);
  dns.fail('b.example', 'refused', 'A');
  dns.set('c.example', [{ type: 'A', data: '192.0.2.1' }]);
  dns.fail('c.example', 'bogus', 'A');
  dns.set('d.example', [{ type: 'A', data: '192.0.2.1' }]);
  dns.fail('d.example', 'timeout', 'A');
  const server = `127.0.0.1:${dns.port}`;
  const resolver = resolverFor(t, [dns], { cache: false, timeoutMs: FAST_TIMEOUT_MS, attempts: 2 });

  const servfail = await resolver.query('a.example', 'A');
  assert.equal(servfail.outcome, 'servfail');
  assert.equal(servfail.problem, `SERVFAIL from ${server}`);
  assert.equal(servfail.server, server);

  assert.equal((await resolver.query('b.example', 'A')).problem, `REFUSED from ${server}`);

  const bogus = await resolver.query('c.example', 'A');
  assert.equal(bogus.outcome, 'servfail');
  assert.equal(bogus.problem, `SERVFAIL from ${server} (DNSSEC Bogus: signature crypto failed)`);

  const silent = await resolver.query('d.example', 'A');
  assert.equal(silent.outcome, 'timeout');
  assert.match(
    silent.problem ?? '',
    new RegExp(`^no answer from ${server} within \\d+ ms \\(2 tries\\)$`),
  );

  // Nothing listens: the kernel answers with ICMP port unreachable at once. Not a "timeout".
  const port = await closedPort();
  const nobody = resolverFor(t, [{ host: '127.0.0.1', port } as TestDnsServer], {
    cache: false,
    timeoutMs: 2000,
  });
  const started = Date.now();
  const refused = await nobody.query('a.example', 'A');
  assert.ok(Date.now() - started < 1500, 'a refused port is reported at once, not after a timeout');
  assert.equal(refused.outcome, 'timeout');
  assert.equal(refused.problem, `127.0.0.1:${port} refused the connection (nothing listens there)`);
});

test('the probe tells a validating resolver from one that does not validate or does not answer', async () => {
  const [good] = await probeResolvers([{ host: dns.host, port: dns.port }], 'auto', 1000);
  assert.equal(good?.answered, true);
  assert.equal(good?.validates, true);
  assert.equal(good?.trustAd, true);
  assert.match(good?.summary ?? '', /validates DNSSEC .*; its AD bit is trusted/);
  assert.equal(daneAvailable([good!]), true);

  dns.validating = false;
  const [plain] = await probeResolvers([{ host: dns.host, port: dns.port }], 'auto', 1000);
  assert.equal(plain?.validates, false);
  assert.match(plain?.summary ?? '', /does NOT validate DNSSEC/);
  assert.equal(daneAvailable([plain!]), false);

  dns.validating = true;
  const [distrusted] = await probeResolvers([{ host: dns.host, port: dns.port }], 'never', 1000);
  assert.equal(distrusted?.validates, true);
  assert.equal(distrusted?.trustAd, false);
  assert.equal(daneAvailable([distrusted!]), false);

  const port = await closedPort();
  const [gone] = await probeResolvers([{ host: '127.0.0.1', port }], 'auto', 1000);
  assert.equal(gone?.answered, false);
  assert.match(gone?.summary ?? '', /could not be asked \(ECONNREFUSED\)/);
});
