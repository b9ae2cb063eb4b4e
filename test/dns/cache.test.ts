import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { TtlCache } from '../../src/dns/cache.ts';
import { MAX_NEGATIVE_TTL_SECONDS } from '../../src/dns/index.ts';
import { TestDnsServer } from '../support/dns-server.ts';
import { FAST_TIMEOUT_MS, resolverFor } from './helpers.ts';

let dns: TestDnsServer;
before(async () => {
  dns = await TestDnsServer.start();
});
beforeEach(() => dns.reset());
after(() => dns.close());

/** A clock tests move by hand, in milliseconds. */
function manualClock(): { now: () => number; advance(seconds: number): void } {
  let ms = 1_000_000;
  return {
    now: () => ms,
    advance(seconds) {
      ms += seconds * 1000;
    },
  };
}

test('a cached answer is served without asking the server until its TTL runs out', async (t) => {
  const clock = manualClock();
  dns.set('example.com', [{ type: 'MX', preference: 10, exchange: 'mx.example.com', ttl: 120 }]);
  const resolver = resolverFor(t, [dns], { now: clock.now });

  const first = await resolver.query('example.com', 'MX');
  assert.equal(first.ttl, 120);
  clock.advance(100);
  const cached = await resolver.query('EXAMPLE.com.', 'MX');
  assert.deepEqual(cached.records, first.records);
  assert.equal(cached.ttl, 20, 'the remaining TTL is reported');
  assert.equal(dns.count('example.com', 'MX'), 1);

  // The zone changes; the cache hides it until expiry, then the new data shows.
  dns.set('example.com', [{ type: 'MX', preference: 5, exchange: 'new.example.com', ttl: 120 }]);
  clock.advance(19);
  assert.equal((await resolver.query('example.com', 'MX')).records[0]?.exchange, 'mx.example.com');
  clock.advance(1);
  assert.equal((await resolver.query('example.com', 'MX')).records[0]?.exchange, 'new.example.com');
  assert.equal(dns.count('example.com', 'MX'), 2);
});

test('the cache key is name and type', async (t) => {
  dns.set('example.com', [
    { type: 'A', data: '192.0.2.1' },
    { type: 'TXT', data: 'hello' },
  ]);
  const resolver = resolverFor(t, [dns]);
  await resolver.query('example.com', 'A');
  await resolver.query('example.com', 'TXT');
  await resolver.query('example.com', 'A');
  await resolver.query('example.com', 'TXT');
  assert.equal(dns.queries.length, 2);
});

test('negative answers are cached, with the TTL capped', async (t) => {
  const clock = manualClock();
  dns.negativeTtl = 3600;
  dns.set('example.com', [{ type: 'A', data: '192.0.2.1' }]);
  const resolver = resolverFor(t, [dns], { now: clock.now });

  assert.equal((await resolver.query('missing.example.com', 'A')).outcome, 'nxdomain');
  assert.equal((await resolver.query('example.com', 'TLSA')).outcome, 'nodata');
  clock.advance(MAX_NEGATIVE_TTL_SECONDS - 1);
  assert.equal((await resolver.query('missing.example.com', 'A')).outcome, 'nxdomain');
  assert.equal((await resolver.query('example.com', 'TLSA')).outcome, 'nodata');
  assert.equal(dns.queries.length, 2);

  // The record appears; after the capped negative TTL the client sees it.
  dns.set('missing.example.com', [{ type: 'A', data: '192.0.2.9' }]);
  clock.advance(1);
  assert.equal((await resolver.query('missing.example.com', 'A')).outcome, 'ok');
  assert.equal(dns.queries.length, 3);
});

test('the negative TTL follows the SOA when it is shorter than the cap', async (t) => {
  const clock = manualClock();
  dns.negativeTtl = 5;
  const resolver = resolverFor(t, [dns], { now: clock.now });
  await resolver.query('missing.example', 'A');
  clock.advance(4);
  await resolver.query('missing.example', 'A');
  assert.equal(dns.queries.length, 1);
  clock.advance(1);
  await resolver.query('missing.example', 'A');
  assert.equal(dns.queries.length, 2);
});

test('SERVFAIL and timeouts are never cached', async (t) => {
  dns.set('flaky.example', [{ type: 'A', data: '192.0.2.3' }]);
  dns.fail('flaky.example', 'servfail');
  dns.fail('slow.example', 'timeout');
  const resolver = resolverFor(t, [dns], { timeoutMs: FAST_TIMEOUT_MS, attempts: 1 });
  assert.equal((await resolver.query('flaky.example', 'A')).outcome, 'servfail');
  assert.equal((await resolver.query('slow.example', 'A')).outcome, 'timeout');
  dns.clearFailures();
  assert.equal((await resolver.query('flaky.example', 'A')).outcome, 'ok');
  assert.equal((await resolver.query('slow.example', 'A')).outcome, 'nxdomain');
  assert.equal(dns.queries.length, 4);
});

test('a TTL of zero is not cached', async (t) => {
  dns.set('zero.example', [{ type: 'A', data: '192.0.2.4', ttl: 0 }]);
  const resolver = resolverFor(t, [dns]);
  await resolver.query('zero.example', 'A');
  await resolver.query('zero.example', 'A');
  assert.equal(dns.queries.length, 2);
});

test('cache: false asks every time', async (t) => {
  dns.set('example.com', [{ type: 'A', data: '192.0.2.1' }]);
  const resolver = resolverFor(t, [dns], { cache: false });
  await resolver.query('example.com', 'A');
  await resolver.query('example.com', 'A');
  assert.equal(dns.queries.length, 2);
});

test('concurrent identical questions share one query', async (t) => {
  dns.set('example.com', [{ type: 'A', data: '192.0.2.1' }]);
  const resolver = resolverFor(t, [dns]);
  const answers = await Promise.all([
    resolver.query('example.com', 'A'),
    resolver.query('example.com', 'A'),
    resolver.query('Example.com.', 'A'),
  ]);
  assert.equal(dns.queries.length, 1);
  for (const answer of answers) assert.deepEqual(answer.records, ['192.0.2.1']);
});

test('changing a returned answer does not change the cache', async (t) => {
  dns.set('example.com', [{ type: 'MX', preference: 10, exchange: 'mx.example.com' }]);
  dns.set('_25._tcp.mx.example.com', [
    { type: 'TLSA', usage: 3, selector: 1, matchingType: 1, data: Buffer.alloc(32, 1) },
  ]);
  const resolver = resolverFor(t, [dns]);
  const mx = await resolver.query('example.com', 'MX');
  const first = mx.records[0];
  assert.ok(first);
  first.exchange = 'evil.example';
  mx.records.push({ preference: 1, exchange: 'more.example' });
  const tlsa = await resolver.query('_25._tcp.mx.example.com', 'TLSA');
  tlsa.records[0]?.data.fill(0);

  assert.deepEqual((await resolver.query('example.com', 'MX')).records, [
    { preference: 10, exchange: 'mx.example.com' },
  ]);
  const again = await resolver.query('_25._tcp.mx.example.com', 'TLSA');
  assert.ok(again.records[0]?.data.equals(Buffer.alloc(32, 1)));
  assert.equal(dns.queries.length, 2);
});

test('TtlCache evicts the least recently used entry when full', () => {
  const clock = manualClock();
  const cache = new TtlCache<string>(2, clock.now);
  cache.set('a', 'A', 60);
  cache.set('b', 'B', 60);
  assert.equal(cache.get('a')?.value, 'A'); // a is now the most recently used
  cache.set('c', 'C', 60);
  assert.equal(cache.size, 2);
  assert.equal(cache.get('b'), undefined);
  assert.equal(cache.get('a')?.value, 'A');
  assert.equal(cache.get('c')?.value, 'C');
  clock.advance(59.5);
  assert.equal(cache.get('c')?.remainingSeconds, 1);
  clock.advance(0.5);
  assert.equal(cache.get('c'), undefined);
  assert.equal(cache.size, 1);
  assert.throws(() => new TtlCache<string>(0, clock.now), TypeError);
});
