import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { after, before, beforeEach, test } from 'node:test';
import * as dnsPacket from 'dns-packet';
import { TestDnsServer } from '../support/dns-server.ts';
import { FAST_TIMEOUT_MS, resolverFor } from './helpers.ts';

let first: TestDnsServer;
let second: TestDnsServer;
before(async () => {
  first = await TestDnsServer.start();
  second = await TestDnsServer.start();
});
beforeEach(() => {
  first.reset();
  second.reset();
});
after(() => Promise.all([first.close(), second.close()]));

test('a silent server times out and the next server answers', async (t) => {
  first.fail('example.com', 'timeout');
  second.set('example.com', [{ type: 'MX', preference: 10, exchange: 'mx.example.com' }]);
  const resolver = resolverFor(t, [first, second], { timeoutMs: FAST_TIMEOUT_MS });
  const answer = await resolver.query('example.com', 'MX');
  assert.equal(answer.outcome, 'ok');
  assert.deepEqual(answer.records, [{ preference: 10, exchange: 'mx.example.com' }]);
  // Once each normally; on a loaded machine the second server may miss the short timeout
  // too, and the next round asks both again.
  assert.ok(first.count('example.com', 'MX') >= 1);
  assert.ok(second.count('example.com', 'MX') >= 1);
  assert.equal(first.count('example.com', 'MX'), second.count('example.com', 'MX'));
});

test('a server that refuses is skipped for the next one', async (t) => {
  first.fail('example.com', 'refused');
  second.set('example.com', [{ type: 'A', data: '192.0.2.7' }]);
  const resolver = resolverFor(t, [first, second], { timeoutMs: FAST_TIMEOUT_MS });
  assert.deepEqual((await resolver.query('example.com', 'A')).records, ['192.0.2.7']);
});

test('no answer from any server in any round is timeout', async (t) => {
  first.fail('slow.example', 'timeout');
  second.fail('slow.example', 'timeout');
  const resolver = resolverFor(t, [first, second], { timeoutMs: 60, attempts: 2 });
  const started = performance.now();
  const answer = await resolver.query('slow.example', 'A');
  const elapsed = performance.now() - started;
  assert.equal(answer.outcome, 'timeout');
  assert.equal(answer.secure, false);
  // Two rounds over two servers.
  assert.equal(first.count('slow.example') + second.count('slow.example'), 4);
  assert.ok(elapsed >= 4 * 60 - 10, `took ${elapsed} ms`);
  assert.ok(elapsed < 2000, `took ${elapsed} ms`);
});

test('a truncated UDP answer is asked again over TCP from the same server', async (t) => {
  first.set('big.example', [{ type: 'TXT', data: 'over tcp' }]);
  first.truncateUdp('big.example');
  const resolver = resolverFor(t, [first, second], { timeoutMs: FAST_TIMEOUT_MS });
  const answer = await resolver.query('big.example', 'TXT');
  assert.equal(answer.outcome, 'ok');
  assert.deepEqual(answer.records, ['over tcp']);
  assert.deepEqual(
    first.queries.map((query) => query.transport),
    ['udp', 'tcp'],
  );
  assert.equal(second.queries.length, 0);
  assert.ok(first.queries.every((query) => query.dnssecOk));
});

test('an answer larger than the EDNS0 payload size arrives over TCP', async (t) => {
  const records = Array.from({ length: 12 }, (_, i) => ({
    type: 'TXT' as const,
    data: `${i}:${'x'.repeat(200)}`,
  }));
  first.set('large.example', records);
  const resolver = resolverFor(t, [first]);
  const answer = await resolver.query('large.example', 'TXT');
  assert.equal(answer.records.length, 12);
  assert.deepEqual(
    first.queries.map((query) => query.transport),
    ['udp', 'tcp'],
  );
});

test('TCP that stays silent counts as a timeout for that server', async (t) => {
  first.set('stuck.example', [{ type: 'A', data: '192.0.2.1' }]);
  first.truncateUdp('stuck.example');
  first.fail('stuck.example', 'timeout', undefined, 'tcp');
  const resolver = resolverFor(t, [first], { timeoutMs: FAST_TIMEOUT_MS, attempts: 1 });
  const answer = await resolver.query('stuck.example', 'A');
  assert.equal(answer.outcome, 'timeout');
  assert.deepEqual(
    first.queries.map((query) => query.transport),
    ['udp', 'tcp'],
  );
});

/** A raw UDP server that answers every query with `replies(query)`, in order. */
async function rawServer(
  replies: (query: dnsPacket.DecodedPacket) => dnsPacket.Packet[],
): Promise<{ host: string; port: number; close(): Promise<void> }> {
  const socket = dgram.createSocket('udp4');
  socket.on('message', (message, remote) => {
    for (const reply of replies(dnsPacket.decode(message))) {
      socket.send(dnsPacket.encode(reply), remote.port, remote.address);
    }
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return {
    host: '127.0.0.1',
    port: socket.address().port,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

function replyTo(
  query: dnsPacket.DecodedPacket,
  changes: Partial<dnsPacket.Packet>,
): dnsPacket.Packet {
  const question = query.questions?.[0];
  assert.ok(question);
  return {
    type: 'response',
    id: query.id,
    flags: dnsPacket.RECURSION_AVAILABLE,
    questions: [question],
    answers: [{ name: question.name, type: 'A', ttl: 60, data: '192.0.2.99' }],
    ...changes,
  };
}

test('replies with the wrong id or question are ignored, the real one is used', async (t) => {
  const server = await rawServer((query) => [
    replyTo(query, {
      id: ((query.id ?? 0) + 1) % 65536,
      answers: [{ name: 'spoof.example', type: 'A', ttl: 60, data: '203.0.113.66' }],
    }),
    replyTo(query, {
      questions: [{ name: 'other.example', type: 'A' }],
      answers: [{ name: 'other.example', type: 'A', ttl: 60, data: '203.0.113.67' }],
    }),
    replyTo(query, { type: 'query' }),
    replyTo(query, {}),
  ]);
  t.after(() => server.close());
  const resolver = resolverFor(t, [], { servers: [server], timeoutMs: FAST_TIMEOUT_MS });
  const answer = await resolver.query('spoof.example', 'A');
  assert.equal(answer.outcome, 'ok');
  assert.deepEqual(answer.records, ['192.0.2.99']);
});

test('only mismatched replies is a timeout', async (t) => {
  const server = await rawServer((query) => [
    replyTo(query, { id: ((query.id ?? 0) + 1) % 65536 }),
  ]);
  t.after(() => server.close());
  const resolver = resolverFor(t, [], { servers: [server], timeoutMs: 50, attempts: 1 });
  assert.equal((await resolver.query('spoof.example', 'A')).outcome, 'timeout');
});

test('answer records for other owners are not taken as the answer', async (t) => {
  const server = await rawServer((query) => [
    replyTo(query, {
      answers: [{ name: 'elsewhere.example', type: 'A', ttl: 60, data: '203.0.113.1' }],
    }),
  ]);
  t.after(() => server.close());
  const resolver = resolverFor(t, [], { servers: [server], timeoutMs: FAST_TIMEOUT_MS });
  const answer = await resolver.query('asked.example', 'A');
  assert.equal(answer.outcome, 'nodata');
});

test('close() stops an in-flight query and refuses new ones', async (t) => {
  first.fail('hang.example', 'timeout');
  const resolver = resolverFor(t, [first], { timeoutMs: 5000 });
  const pending = resolver.query('hang.example', 'A');
  await new Promise((resolve) => setTimeout(resolve, 20));
  const started = performance.now();
  await resolver.close();
  await assert.rejects(pending, /closed/);
  assert.ok(performance.now() - started < 1000);
  await assert.rejects(resolver.query('example.com', 'A'), /closed/);
});
