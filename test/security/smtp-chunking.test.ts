// CHUNKING (RFC 3030) and overlapping transactions in the SMTP client, against the test SMTP
// server that implements BDAT: with PIPELINING, MAIL, RCPT and `BDAT n LAST` with the content
// leave in one flight and several transactions share it; without PIPELINING every command
// waits for its reply. Whatever the flight, a message counts as sent only on the 250 to its
// own content: a refused RCPT, or a connection that drops mid-flight, never makes one.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { SmtpClient } from '../../src/security/smtp-client.ts';
import { SmtpError } from '../../src/security/smtp-reply.ts';
import { chainPem, makeCa, makeLeaf, type TestCert } from '../support/certs.ts';
import { type TestSmtpOptions, TestSmtpServer } from '../support/smtp-server.ts';

const HOST = 'mx.chunk.test';
let ca: TestCert;
let leaf: TestCert;
const servers: TestSmtpServer[] = [];
const clients: SmtpClient[] = [];

before(async () => {
  ca = await makeCa('Chunking Test CA');
  leaf = await makeLeaf({ names: [HOST], issuer: ca });
});
after(async () => {
  for (const client of clients) client.close();
  for (const server of servers) await server.close();
});

async function serverWith(options: Partial<TestSmtpOptions>): Promise<TestSmtpServer> {
  const server = await TestSmtpServer.start({
    name: HOST,
    tls: { key: leaf.keyPem, cert: chainPem(leaf) },
    ...options,
  });
  servers.push(server);
  return server;
}

async function verifiedClient(server: TestSmtpServer): Promise<SmtpClient> {
  const client = await SmtpClient.connect({
    address: server.host,
    port: server.port,
    host: HOST,
    ehloName: 'client.test',
    connectTimeoutMs: 1000,
    commandTimeoutMs: 2000,
    now: () => new Date(),
  });
  clients.push(client);
  await client.ehlo();
  await client.startTls({ servername: HOST, ca: ca.pem });
  // The test stands in for the policy engine, which verifies the certificate first.
  client.markVerified('pkix');
  await client.ehlo();
  return client;
}

const message = (n: number) =>
  Buffer.from(`From: a@b.test\r\nSubject: ${n}\r\n\r\n.a line with a leading dot\r\nbody ${n}\r\n`);

/** The flights that arrived after the EHLO over TLS. */
function flightsAfterEhlo(server: TestSmtpServer): string[][] {
  const at = server.flights.findIndex((f) => f.some((c) => c.startsWith('tls: EHLO')));
  return server.flights.slice(at + 1).map((f) => f.map((c) => c.replace(/^tls: /, '')));
}

test('CHUNKING with PIPELINING: three transactions in one flight, each with its own 250', async () => {
  const server = await serverWith({ chunking: true });
  const client = await verifiedClient(server);
  assert.equal(client.transactionMode, 'bdat-pipelined');
  assert.equal(client.inFlightLimit(4), 4);
  const replies = await Promise.all(
    [0, 1, 2].map((n) => client.send(`b${n}@b.test`, `r${n}@chunk.test`, message(n))),
  );
  assert.deepEqual(
    replies.map((r) => r.code),
    [250, 250, 250],
  );
  const contents = [0, 1, 2].map((n) => message(n).length);
  assert.deepEqual(flightsAfterEhlo(server), [
    [
      'MAIL FROM:<b0@b.test>',
      'RCPT TO:<r0@chunk.test>',
      `BDAT ${contents[0]} LAST`,
      'RSET',
      'MAIL FROM:<b1@b.test>',
      'RCPT TO:<r1@chunk.test>',
      `BDAT ${contents[1]} LAST`,
      'RSET',
      'MAIL FROM:<b2@b.test>',
      'RCPT TO:<r2@chunk.test>',
      `BDAT ${contents[2]} LAST`,
    ],
  ]);
  // Octet-counted, not dot-stuffed: the server got exactly the bytes, leading dot and all.
  assert.deepEqual(
    server.messages.map((m) => [m.via, m.to, m.data.equals(message(Number(m.to[0]![1])))]),
    [
      ['bdat', ['r0@chunk.test'], true],
      ['bdat', ['r1@chunk.test'], true],
      ['bdat', ['r2@chunk.test'], true],
    ],
  );
  await client.quit();
});

test('CHUNKING without PIPELINING: one command at a time, BDAT LAST with the content', async () => {
  const server = await serverWith({ chunking: true, pipelining: false });
  const client = await verifiedClient(server);
  assert.equal(client.transactionMode, 'bdat');
  assert.equal(client.inFlightLimit(4), 1);
  // Overlapping calls are still taken one after the other, never mixed.
  const replies = await Promise.all(
    [0, 1].map((n) => client.send(`b${n}@b.test`, `r${n}@chunk.test`, message(n))),
  );
  assert.deepEqual(
    replies.map((r) => r.code),
    [250, 250],
  );
  assert.deepEqual(flightsAfterEhlo(server), [
    ['MAIL FROM:<b0@b.test>'],
    ['RCPT TO:<r0@chunk.test>'],
    [`BDAT ${message(0).length} LAST`],
    ['MAIL FROM:<b1@b.test>'],
    ['RCPT TO:<r1@chunk.test>'],
    [`BDAT ${message(1).length} LAST`],
  ]);
  assert.deepEqual(
    server.messages.map((m) => [m.via, m.chunks]),
    [
      ['bdat', [message(0).length]],
      ['bdat', [message(1).length]],
    ],
  );
  await client.quit();
});

test('a refused RCPT in a pipelined BDAT flight fails that transaction only', async () => {
  const server = await serverWith({
    chunking: true,
    rcptReply: (address) => (address.startsWith('nobody') ? '550 5.1.1 no such user' : undefined),
  });
  const client = await verifiedClient(server);
  const results = await Promise.allSettled([
    client.send('b@b.test', 'one@chunk.test', message(1)),
    client.send('b@b.test', 'nobody@chunk.test', message(2)),
    client.send('b@b.test', 'three@chunk.test', message(3)),
  ]);
  assert.equal(results[0]!.status, 'fulfilled');
  assert.equal(results[2]!.status, 'fulfilled');
  assert.equal(results[1]!.status, 'rejected');
  const error = (results[1] as PromiseRejectedResult).reason;
  assert.ok(error instanceof SmtpError);
  assert.equal(error.step, 'rcpt');
  assert.equal(error.reply?.code, 550);
  assert.equal(error.permanent, true);
  // All three were in one flight; the server refused the middle one's BDAT and kept none of it.
  assert.equal(flightsAfterEhlo(server).length, 1);
  assert.deepEqual(
    server.messages.map((m) => m.to),
    [['one@chunk.test'], ['three@chunk.test']],
  );
  await client.quit();
});

test('a temporary RCPT refusal fails the transaction; the next one starts with RSET', async () => {
  const server = await serverWith({ chunking: true, rcptReplies: ['451 4.3.0 try later'] });
  const client = await verifiedClient(server);
  await assert.rejects(client.send('b@b.test', 'r@chunk.test', message(1)), (error) => {
    assert.ok(error instanceof SmtpError);
    assert.equal(error.step, 'rcpt');
    assert.equal(error.permanent, false);
    return true;
  });
  // The next transaction starts clean (RSET first) and goes through.
  const reply = await client.send('b@b.test', 'r2@chunk.test', message(2));
  assert.equal(reply.code, 250);
  assert.deepEqual(flightsAfterEhlo(server).at(-1)!.slice(0, 2), ['RSET', 'MAIL FROM:<b@b.test>']);
  await client.quit();
});

test('a connection dropped mid-flight: only the transactions answered 250 succeed', async () => {
  const server = await serverWith({
    chunking: true,
    // The second message is kept by the server, which then drops the connection unanswered.
    afterContent: (_m, index) => (index === 1 ? 'drop' : 'reply'),
  });
  const client = await verifiedClient(server);
  const results = await Promise.allSettled(
    [0, 1, 2].map((n) => client.send('b@b.test', `r${n}@chunk.test`, message(n))),
  );
  assert.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'rejected', 'rejected'],
  );
  for (const r of results.slice(1)) {
    const error = (r as PromiseRejectedResult).reason;
    assert.ok(error instanceof SmtpError);
    assert.ok(['closed', 'network'].includes(error.kind), error.kind);
    assert.equal(error.reply, undefined, 'no reply: not a refusal either');
  }
  assert.equal(client.open, false);
  // The server has the second message (its 250 never came: a retry may duplicate it, as
  // SMTP always allows) and never read the third.
  assert.deepEqual(
    server.messages.map((m) => m.to),
    [['r0@chunk.test'], ['r1@chunk.test']],
  );
});

test('PIPELINING without CHUNKING: the next envelope rides with the content', async () => {
  const server = await serverWith({});
  const client = await verifiedClient(server);
  assert.equal(client.transactionMode, 'data-pipelined');
  assert.equal(client.inFlightLimit(4), 2);
  const replies = await Promise.all(
    [0, 1, 2].map((n) => client.send('b@b.test', `r${n}@chunk.test`, message(n))),
  );
  assert.deepEqual(
    replies.map((r) => r.code),
    [250, 250, 250],
  );
  // Flight 1: the first envelope; then each content with the next envelope behind it.
  assert.deepEqual(flightsAfterEhlo(server), [
    ['MAIL FROM:<b@b.test>', 'RCPT TO:<r0@chunk.test>', 'DATA'],
    ['RSET', 'MAIL FROM:<b@b.test>', 'RCPT TO:<r1@chunk.test>', 'DATA'],
    ['RSET', 'MAIL FROM:<b@b.test>', 'RCPT TO:<r2@chunk.test>', 'DATA'],
  ]);
  assert.deepEqual(
    server.messages.map((m) => [m.via, m.data.equals(message(Number(m.to[0]![1])))]),
    [
      ['data', true],
      ['data', true],
      ['data', true],
    ],
  );
  await client.quit();
});
