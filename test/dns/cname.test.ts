import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { TestDnsServer } from '../support/dns-server.ts';
import { resolverFor } from './helpers.ts';

let dns: TestDnsServer;
before(async () => {
  dns = await TestDnsServer.start();
});
beforeEach(() => dns.reset());
after(() => dns.close());

/** a0 -> a1 -> ... -> a{hops}, which has an A record. */
function chain(hops: number): void {
  for (let i = 0; i < hops; i++) {
    dns.set(`a${i}.example`, [{ type: 'CNAME', data: `a${i + 1}.example`, ttl: 100 + i }]);
  }
  dns.set(`a${hops}.example`, [{ type: 'A', data: '192.0.2.80', ttl: 500 }]);
}

test('a CNAME chain in one answer is followed to the records', async (t) => {
  dns.set('www.example.com', [{ type: 'CNAME', data: 'Host.Example.NET.', ttl: 30 }]);
  dns.set('host.example.net', [{ type: 'A', data: '192.0.2.44', ttl: 600 }]);
  const resolver = resolverFor(t, [dns]);
  const answer = await resolver.query('www.example.com', 'A');
  assert.equal(answer.outcome, 'ok');
  assert.equal(answer.name, 'www.example.com');
  assert.equal(answer.canonicalName, 'host.example.net');
  assert.deepEqual(answer.records, ['192.0.2.44']);
  // The chain is only as fresh as its shortest-lived link.
  assert.equal(answer.ttl, 30);
  assert.equal(dns.queries.length, 1);
});

test('an answer that stops at a CNAME leads to a query for the target', async (t) => {
  dns.followCnames = false;
  chain(3);
  const resolver = resolverFor(t, [dns]);
  const answer = await resolver.query('a0.example', 'A');
  assert.deepEqual(answer.records, ['192.0.2.80']);
  assert.equal(answer.canonicalName, 'a3.example');
  assert.deepEqual(
    dns.queries.map((query) => query.name),
    ['a0.example', 'a1.example', 'a2.example', 'a3.example'],
  );
});

test('a chain to a missing name is NXDOMAIN, to a name without the type NODATA', async (t) => {
  dns.set('dangling.example', [{ type: 'CNAME', data: 'gone.example' }]);
  dns.set('other.example', [{ type: 'CNAME', data: 'host.example' }]);
  dns.set('host.example', [{ type: 'A', data: '192.0.2.1' }]);
  const resolver = resolverFor(t, [dns]);
  const dangling = await resolver.query('dangling.example', 'A');
  assert.equal(dangling.outcome, 'nxdomain');
  assert.equal(dangling.canonicalName, 'gone.example');
  const nodata = await resolver.query('other.example', 'MX');
  assert.equal(nodata.outcome, 'nodata');
  assert.equal(nodata.canonicalName, 'host.example');
});

test('the chain limit: maxCnameChain hops pass, one more is servfail', async (t) => {
  chain(3);
  const limited = resolverFor(t, [dns], { maxCnameChain: 3, cache: false });
  assert.deepEqual((await limited.query('a0.example', 'A')).records, ['192.0.2.80']);
  const tooShort = resolverFor(t, [dns], { maxCnameChain: 2, cache: false });
  const answer = await tooShort.query('a0.example', 'A');
  assert.equal(answer.outcome, 'servfail');
  assert.equal(answer.secure, false);
});

test('the default limit of 8 hops applies across separate queries too', async (t) => {
  dns.followCnames = false;
  chain(9);
  const resolver = resolverFor(t, [dns]);
  assert.equal((await resolver.query('a0.example', 'A')).outcome, 'servfail');
  // It gave up at the ninth hop rather than asking on.
  assert.equal(dns.queries.length, 9);
  assert.equal((await resolver.query('a1.example', 'A')).outcome, 'ok');
});

test('a CNAME loop is servfail, inside one answer and across queries', async (t) => {
  dns.set('loop1.example', [{ type: 'CNAME', data: 'loop2.example' }]);
  dns.set('loop2.example', [{ type: 'CNAME', data: 'loop1.example' }]);
  dns.set('self.example', [{ type: 'CNAME', data: 'self.example' }]);
  const resolver = resolverFor(t, [dns], { cache: false });
  assert.equal((await resolver.query('loop1.example', 'A')).outcome, 'servfail');
  assert.equal((await resolver.query('self.example', 'MX')).outcome, 'servfail');
  dns.followCnames = false;
  assert.equal((await resolver.query('loop1.example', 'TXT')).outcome, 'servfail');
});

test('a SERVFAIL part-way through a chain fails the whole answer', async (t) => {
  dns.followCnames = false;
  chain(2);
  dns.fail('a2.example', 'servfail');
  const resolver = resolverFor(t, [dns]);
  const answer = await resolver.query('a0.example', 'A');
  assert.equal(answer.outcome, 'servfail');
  assert.deepEqual(answer.records, []);
  assert.equal(answer.canonicalName, 'a0.example');
});
