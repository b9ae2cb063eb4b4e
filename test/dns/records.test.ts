import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { describeAnswer, describeFailure } from '../../src/dns/index.ts';
import { TestDnsServer } from '../support/dns-server.ts';
import { resolverFor } from './helpers.ts';

let dns: TestDnsServer;
before(async () => {
  dns = await TestDnsServer.start();
});
beforeEach(() => dns.reset());
after(() => dns.close());

test('A and AAAA records come back as address strings with their TTL', async (t) => {
  dns.set('mail.example.com', [
    { type: 'A', data: '192.0.2.10', ttl: 120 },
    { type: 'A', data: '192.0.2.11', ttl: 90 },
    { type: 'AAAA', data: '2001:db8::25' },
  ]);
  const resolver = resolverFor(t, [dns]);

  const a = await resolver.query('Mail.Example.COM.', 'A');
  assert.equal(a.outcome, 'ok');
  assert.equal(a.name, 'mail.example.com');
  assert.equal(a.canonicalName, 'mail.example.com');
  assert.deepEqual([...a.records].sort(), ['192.0.2.10', '192.0.2.11']);
  assert.equal(a.ttl, 90);
  assert.equal(a.secure, false);

  const aaaa = await resolver.query('mail.example.com', 'AAAA');
  assert.deepEqual(aaaa.records, ['2001:db8::25']);
  assert.equal(aaaa.ttl, 300);
});

test('MX records: exchange lower-case without the trailing dot', async (t) => {
  dns.set('example.com', [
    { type: 'MX', preference: 10, exchange: 'MX1.Example.COM.' },
    { type: 'MX', preference: 20, exchange: 'mx2.example.net' },
  ]);
  const resolver = resolverFor(t, [dns]);
  const answer = await resolver.query('example.com', 'MX');
  assert.equal(answer.outcome, 'ok');
  assert.deepEqual(
    [...answer.records].sort((x, y) => x.preference - y.preference),
    [
      { preference: 10, exchange: 'mx1.example.com' },
      { preference: 20, exchange: 'mx2.example.net' },
    ],
  );
});

test('null MX (RFC 7505) has the empty exchange', async (t) => {
  dns.set('nomail.example', [{ type: 'MX', preference: 0, exchange: '.' }]);
  dns.set('nomail2.example', [{ type: 'MX', preference: 0, exchange: '' }]);
  const resolver = resolverFor(t, [dns]);
  assert.deepEqual((await resolver.query('nomail.example', 'MX')).records, [
    { preference: 0, exchange: '' },
  ]);
  assert.deepEqual((await resolver.query('nomail2.example', 'MX')).records, [
    { preference: 0, exchange: '' },
  ]);
});

test('TXT: the character-strings of one record are joined without separator', async (t) => {
  dns.set('example.com', [
    { type: 'TXT', data: ['v=spf1 ip4:192.0.2.0/24 ', '-all'] },
    { type: 'TXT', data: 'google-site-verification=abc' },
  ]);
  dns.set('_mta-sts.example.com', [{ type: 'TXT', data: 'v=STSv1; id=20240101;' }]);
  const resolver = resolverFor(t, [dns]);
  const answer = await resolver.query('example.com', 'TXT');
  assert.deepEqual([...answer.records].sort(), [
    'google-site-verification=abc',
    'v=spf1 ip4:192.0.2.0/24 -all',
  ]);
  assert.deepEqual((await resolver.query('_mta-sts.example.com', 'TXT')).records, [
    'v=STSv1; id=20240101;',
  ]);
});

test('TXT: a long value and UTF-8 survive the round trip', async (t) => {
  const long = `v=DKIM1; k=rsa; p=${'A'.repeat(400)}`;
  dns.set('sel._domainkey.example.com', [{ type: 'TXT', data: long }]);
  dns.set('utf8.example.com', [{ type: 'TXT', data: ['caf', 'é ✓'] }]);
  const resolver = resolverFor(t, [dns]);
  assert.deepEqual((await resolver.query('sel._domainkey.example.com', 'TXT')).records, [long]);
  assert.deepEqual((await resolver.query('utf8.example.com', 'TXT')).records, ['café ✓']);
});

test('TLSA records keep usage, selector, matching type and the data bytes', async (t) => {
  const digest = Buffer.from(
    '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
    'hex',
  );
  dns.set('_25._tcp.mx1.example.com', [
    { type: 'TLSA', usage: 3, selector: 1, matchingType: 1, data: digest },
    { type: 'TLSA', usage: 2, selector: 0, matchingType: 2, data: Buffer.alloc(64, 7) },
  ]);
  const resolver = resolverFor(t, [dns]);
  const answer = await resolver.query('_25._tcp.mx1.example.com', 'TLSA');
  assert.equal(answer.outcome, 'ok');
  const [first, second] = [...answer.records].sort((x, y) => y.usage - x.usage);
  assert.ok(first && second);
  assert.equal(first.usage, 3);
  assert.equal(first.selector, 1);
  assert.equal(first.matchingType, 1);
  assert.ok(Buffer.isBuffer(first.data));
  assert.ok(first.data.equals(digest));
  assert.deepEqual(
    { usage: second.usage, selector: second.selector, matchingType: second.matchingType },
    { usage: 2, selector: 0, matchingType: 2 },
  );
  assert.ok(second.data.equals(Buffer.alloc(64, 7)));
});

test('CNAME queries return the alias itself', async (t) => {
  dns.set('www.example.com', [{ type: 'CNAME', data: 'Example.com.' }]);
  dns.set('example.com', [{ type: 'A', data: '192.0.2.1' }]);
  const resolver = resolverFor(t, [dns]);
  const answer = await resolver.query('www.example.com', 'CNAME');
  assert.equal(answer.outcome, 'ok');
  assert.deepEqual(answer.records, ['example.com']);
  assert.equal(answer.canonicalName, 'www.example.com');
});

test('NXDOMAIN when the name does not exist, NODATA when it has other types only', async (t) => {
  dns.set('example.com', [{ type: 'A', data: '192.0.2.1' }]);
  dns.set('a.b.deep.example', [{ type: 'A', data: '192.0.2.2' }]);
  const resolver = resolverFor(t, [dns]);

  const missing = await resolver.query('nope.example.com', 'A');
  assert.equal(missing.outcome, 'nxdomain');
  assert.deepEqual(missing.records, []);
  assert.equal(missing.ttl, 0);
  assert.equal(describeAnswer(missing), 'nxdomain');

  const nodata = await resolver.query('example.com', 'MX');
  assert.equal(nodata.outcome, 'nodata');
  assert.deepEqual(nodata.records, []);

  // An empty non-terminal exists: it is NODATA, not NXDOMAIN (RFC 8020).
  assert.equal((await resolver.query('b.deep.example', 'A')).outcome, 'nodata');
  assert.equal((await resolver.query('deep.example', 'TXT')).outcome, 'nodata');
});

test('SERVFAIL and REFUSED are servfail, never secure', async (t) => {
  dns.set('bogus.example', [{ type: 'MX', preference: 10, exchange: 'mx.bogus.example' }]);
  dns.sign('bogus.example');
  dns.fail('bogus.example', 'servfail');
  dns.set('refused.example', [{ type: 'A', data: '192.0.2.1' }]);
  dns.fail('refused.example', 'refused', 'A');
  const resolver = resolverFor(t, [dns]);

  const bogus = await resolver.query('bogus.example', 'MX');
  assert.equal(bogus.outcome, 'servfail');
  assert.equal(bogus.secure, false);
  assert.deepEqual(bogus.records, []);
  assert.match(describeAnswer(bogus), /^SERVFAIL from 127\.0\.0\.1:\d+$/);
  assert.match(describeFailure(bogus), /^MX bogus\.example: SERVFAIL from 127\.0\.0\.1:\d+$/);

  assert.equal((await resolver.query('refused.example', 'A')).outcome, 'servfail');
  // The failure was for type A only.
  assert.equal((await resolver.query('refused.example', 'TXT')).outcome, 'nodata');
  // A server that answered SERVFAIL is not asked again in the second round.
  assert.equal(dns.count('bogus.example', 'MX'), 1);
});

test('queries carry EDNS0 with the DO bit and ask for AD', async (t) => {
  dns.set('example.com', [{ type: 'A', data: '192.0.2.1' }]);
  const resolver = resolverFor(t, [dns]);
  await resolver.query('example.com', 'A');
  assert.deepEqual(dns.queries, [
    { name: 'example.com', type: 'A', transport: 'udp', dnssecOk: true, adRequested: true },
  ]);
});

test('invalid names and types are rejected with a TypeError before any query', async (t) => {
  const resolver = resolverFor(t, [dns]);
  const bad = [
    '',
    '.',
    'a..b',
    `${'x'.repeat(64)}.example`,
    `${'abcdefghi.'.repeat(26)}com`,
    'sp ace.example',
    'bäd.example',
    'back\\slash.example',
  ];
  for (const name of bad) {
    await assert.rejects(resolver.query(name, 'A'), TypeError, name);
  }
  // @ts-expect-error: a type outside the contract
  await assert.rejects(resolver.query('example.com', 'NS'), TypeError);
  assert.equal(dns.queries.length, 0);
  // The limits themselves are fine.
  const longest = `${'x'.repeat(63)}.${'y'.repeat(63)}.${'z'.repeat(63)}.${'w'.repeat(61)}`;
  assert.equal(longest.length, 253);
  assert.equal((await resolver.query(longest, 'A')).outcome, 'nxdomain');
});
