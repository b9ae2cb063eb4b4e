import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { describeAnswer } from '../../src/dns/index.ts';
import { TestDnsServer } from '../support/dns-server.ts';
import { resolverFor } from './helpers.ts';

let dns: TestDnsServer;
before(async () => {
  dns = await TestDnsServer.start();
});
beforeEach(() => dns.reset());
after(() => dns.close());

test('the AD bit from a trusted resolver makes the answer secure', async (t) => {
  dns.set('signed.example', [{ type: 'MX', preference: 10, exchange: 'mx.signed.example' }]);
  dns.set('_25._tcp.mx.signed.example', [
    { type: 'TLSA', usage: 3, selector: 1, matchingType: 1, data: Buffer.alloc(32, 1) },
  ]);
  dns.set('plain.example', [{ type: 'MX', preference: 10, exchange: 'mx.plain.example' }]);
  dns.sign('signed.example');
  const resolver = resolverFor(t, [dns]);

  const mx = await resolver.query('signed.example', 'MX');
  assert.equal(mx.secure, true);
  assert.equal(describeAnswer(mx), 'secure');
  assert.equal((await resolver.query('_25._tcp.mx.signed.example', 'TLSA')).secure, true);

  const plain = await resolver.query('plain.example', 'MX');
  assert.equal(plain.outcome, 'ok');
  assert.equal(plain.secure, false);
  assert.equal(describeAnswer(plain), 'insecure');
});

test('a validated denial is secure too', async (t) => {
  dns.set('signed.example', [{ type: 'A', data: '192.0.2.1' }]);
  dns.sign('signed.example');
  const resolver = resolverFor(t, [dns]);
  const nodata = await resolver.query('_25._tcp.signed.example', 'TLSA');
  assert.equal(nodata.outcome, 'nxdomain');
  assert.equal(nodata.secure, true);
  const noTlsa = await resolver.query('signed.example', 'TLSA');
  assert.equal(noTlsa.outcome, 'nodata');
  assert.equal(noTlsa.secure, true);
});

test('with trustAd false the AD bit is read and ignored', async (t) => {
  dns.set('signed.example', [{ type: 'MX', preference: 10, exchange: 'mx.signed.example' }]);
  dns.sign('signed.example');
  const untrusting = resolverFor(t, [dns], { trustAd: false, cache: false });
  const answer = await untrusting.query('signed.example', 'MX');
  assert.equal(answer.outcome, 'ok');
  assert.equal(answer.secure, false);
  // The same server did set AD: a trusting client on the same answer says secure.
  const trusting = resolverFor(t, [dns], { cache: false });
  assert.equal((await trusting.query('signed.example', 'MX')).secure, true);
  assert.equal(dns.count('signed.example', 'MX'), 2);
});

test('unsigning a zone makes later answers insecure', async (t) => {
  dns.set('flip.example', [{ type: 'A', data: '192.0.2.1' }]);
  dns.sign('flip.example');
  const resolver = resolverFor(t, [dns], { cache: false });
  assert.equal((await resolver.query('flip.example', 'A')).secure, true);
  dns.unsign('flip.example');
  assert.equal((await resolver.query('flip.example', 'A')).secure, false);
});

test('a CNAME chain is secure only when every step is', async (t) => {
  dns.set('alias.signed.example', [{ type: 'CNAME', data: 'target.unsigned.example' }]);
  dns.set('target.unsigned.example', [{ type: 'A', data: '192.0.2.5' }]);
  dns.set('alias2.signed.example', [{ type: 'CNAME', data: 'target.signed.example' }]);
  dns.set('target.signed.example', [{ type: 'A', data: '192.0.2.6' }]);
  dns.sign('signed.example');
  const resolver = resolverFor(t, [dns]);

  const mixed = await resolver.query('alias.signed.example', 'A');
  assert.equal(mixed.outcome, 'ok');
  assert.equal(mixed.secure, false);

  const signed = await resolver.query('alias2.signed.example', 'A');
  assert.equal(signed.secure, true);
  assert.equal(signed.canonicalName, 'target.signed.example');
});

test('a chain asked in steps is secure only when every reply had AD', async (t) => {
  dns.followCnames = false;
  dns.set('alias.signed.example', [{ type: 'CNAME', data: 'target.unsigned.example' }]);
  dns.set('target.unsigned.example', [{ type: 'A', data: '192.0.2.5' }]);
  dns.sign('signed.example');
  const resolver = resolverFor(t, [dns]);
  const answer = await resolver.query('alias.signed.example', 'A');
  assert.deepEqual(answer.records, ['192.0.2.5']);
  assert.equal(answer.secure, false);
  assert.equal(dns.queries.length, 2);
});
