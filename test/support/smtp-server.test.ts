// The test SMTP server checked with raw sockets before any client is tested against it:
// CHUNKING (RFC 3030) with and without PIPELINING, exact BDAT octet counts, one reply per
// chunk, a refused recipient inside a pipelined MAIL/RCPT/BDAT flight, and the failure modes
// the client's tests need (a connection dropped after the content, a server that stalls).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { chainPem, makeCa, makeLeaf, type TestCert } from './certs.ts';
import { RawSmtpClient } from './raw-smtp-client.ts';
import { type TestSmtpOptions, TestSmtpServer } from './smtp-server.ts';

const HOST = 'mx.chunk.test';
let ca: TestCert;
let leaf: TestCert;
const servers: TestSmtpServer[] = [];
const clients: RawSmtpClient[] = [];

before(async () => {
  ca = await makeCa('Test SMTP Server CA');
  leaf = await makeLeaf({ names: [HOST], issuer: ca });
});
after(async () => {
  for (const c of clients) c.close();
  for (const s of servers) await s.close();
});

async function server(options: TestSmtpOptions = {}): Promise<TestSmtpServer> {
  const s = await TestSmtpServer.start({
    name: HOST,
    tls: { key: leaf.keyPem, cert: chainPem(leaf) },
    ...options,
  });
  servers.push(s);
  return s;
}

/** Connected, greeted, EHLO, STARTTLS, EHLO again: returns the client and the TLS EHLO reply. */
async function connect(s: TestSmtpServer): Promise<{ client: RawSmtpClient; ehlo: string }> {
  const client = await RawSmtpClient.connect(s.port, s.host);
  clients.push(client);
  assert.match((await client.replies(1))[0]!, /^220 /);
  client.write('EHLO client.test\r\n');
  await client.replies(1);
  await client.startTls(HOST, ca.pem);
  client.write('EHLO client.test\r\n');
  return { client, ehlo: (await client.replies(1))[0]! };
}

const MAIL = 'MAIL FROM:<sender@b.test>\r\n';
const rcpt = (address: string) => `RCPT TO:<${address}>\r\n`;

test('CHUNKING is offered only when asked for, with or without PIPELINING', async () => {
  const plainOld = await server();
  assert.doesNotMatch((await connect(plainOld)).ehlo, /CHUNKING/);
  const both = (await connect(await server({ chunking: true }))).ehlo;
  assert.match(both, /\|250-PIPELINING\|/);
  assert.match(both, /CHUNKING/);
  const alone = (await connect(await server({ chunking: true, pipelining: false }))).ehlo;
  assert.doesNotMatch(alone, /PIPELINING/);
  assert.match(alone, /CHUNKING/);
});

test('a pipelined MAIL/RCPT/BDAT LAST flight: one reply each, the exact octets recorded', async () => {
  const s = await server({ chunking: true });
  const { client } = await connect(s);
  // No dot-stuffing with BDAT: a lone dot line, a bare LF, a bare CR and NUL arrive as sent.
  const content = Buffer.from('Subject: x\r\n\r\n.\r\n..two\nbare\rcr\0nul\r\n', 'latin1');
  client.write(
    Buffer.concat([
      Buffer.from(`${MAIL}${rcpt('r@c.test')}BDAT ${content.length} LAST\r\n`),
      content,
    ]),
  );
  const replies = await client.replies(3);
  assert.match(replies[0]!, /^250 /);
  assert.match(replies[1]!, /^250 /);
  assert.equal(replies[2], '250 2.0.0 Ok: queued as TESTQUEUE1');
  assert.equal(s.messages.length, 1);
  const m = s.messages[0]!;
  assert.deepEqual(
    [m.from, m.to, m.via, m.chunks, m.overTls],
    ['sender@b.test', ['r@c.test'], 'bdat', [content.length], true],
  );
  assert.ok(m.data.equals(content));
  assert.equal(m.reply, '250 2.0.0 Ok: queued as TESTQUEUE1');
  assert.deepEqual(s.flights.at(-1), [
    'tls: MAIL FROM:<sender@b.test>',
    'tls: RCPT TO:<r@c.test>',
    `tls: BDAT ${content.length} LAST`,
  ]);
});

test('several chunks, one reply per chunk, and BDAT 0 LAST ends the message', async () => {
  const s = await server({ chunking: true });
  const { client } = await connect(s);
  client.write(`${MAIL}${rcpt('r@c.test')}BDAT 6\r\nHello BDAT 7\r\nworld!\nBDAT 0 LAST\r\n`);
  assert.deepEqual((await client.replies(5)).slice(2), [
    '250 2.0.0 Ok: 6 octets received',
    '250 2.0.0 Ok: 7 octets received',
    '250 2.0.0 Ok: queued as TESTQUEUE1',
  ]);
  assert.equal(s.messages[0]!.data.toString(), 'Hello world!\n');
  assert.deepEqual(s.messages[0]!.chunks, [6, 7, 0]);
});

test('a chunk that arrives in pieces is counted exactly, and what follows is a command again', async () => {
  const s = await server({ chunking: true });
  const { client } = await connect(s);
  const content = 'RSET\r\nQUIT\r\n'.repeat(2000);
  client.write(`${MAIL}${rcpt('r@c.test')}BDAT ${content.length} LAST\r\n`);
  assert.equal((await client.replies(2)).length, 2);
  for (let at = 0; at < content.length; at += 5000) {
    client.write(content.slice(at, at + 5000));
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  client.write('NOOP\r\n');
  assert.deepEqual(await client.replies(2), ['250 2.0.0 Ok: queued as TESTQUEUE1', '250 2.0.0 Ok']);
  assert.equal(s.messages[0]!.data.toString(), content);
  assert.ok(!s.commands.includes('tls: RSET'), 'chunk octets are never commands');
});

test('a recipient refused inside the flight: the others get the message', async () => {
  const s = await server({
    chunking: true,
    rcptReply: (address) => (address.startsWith('nobody@') ? '550 5.1.1 No such user' : undefined),
  });
  const { client } = await connect(s);
  client.write(
    `${MAIL}${rcpt('a@c.test')}${rcpt('nobody@c.test')}${rcpt('b@c.test')}BDAT 2 LAST\r\nhi`,
  );
  const replies = await client.replies(5);
  assert.deepEqual(
    replies.map((r) => r.slice(0, 3)),
    ['250', '250', '550', '250', '250'],
  );
  assert.deepEqual(s.messages[0]!.to, ['a@c.test', 'b@c.test']);
});

test('no recipient accepted: the chunks are read and refused, and the session goes on', async () => {
  const s = await server({ chunking: true, rcptReply: () => '550 5.1.1 No such user' });
  const { client } = await connect(s);
  client.write(`${MAIL}${rcpt('x@c.test')}BDAT 4\r\nRSETBDAT 3 LAST\r\nabc`);
  assert.deepEqual((await client.replies(4)).slice(1), [
    '550 5.1.1 No such user',
    '554 5.5.1 Error: no valid recipients',
    '554 5.5.1 Error: no valid recipients',
  ]);
  client.write('RSET\r\n');
  assert.deepEqual(await client.replies(1), ['250 2.0.0 Ok']);
  assert.equal(s.messages.length, 0);
});

test('out of sequence: BDAT without MAIL, BDAT after LAST, DATA after BDAT; bad syntax', async () => {
  const s = await server({ chunking: true });
  const { client } = await connect(s);
  client.write('BDAT 3 LAST\r\nabc');
  assert.deepEqual(await client.replies(1), ['503 5.5.1 Error: need MAIL command']);
  client.write(`${MAIL}${rcpt('r@c.test')}BDAT 1 LAST\r\nxBDAT 1 LAST\r\ny`);
  assert.deepEqual((await client.replies(4)).slice(2), [
    '250 2.0.0 Ok: queued as TESTQUEUE1',
    '503 5.5.1 Error: need MAIL command',
  ]);
  client.write(`${MAIL}${rcpt('r@c.test')}BDAT 1\r\nxDATA\r\nRSET\r\n`);
  assert.deepEqual((await client.replies(5)).slice(3), [
    '503 5.5.1 Error: DATA after BDAT in one transaction (RFC 3030)',
    '250 2.0.0 Ok',
  ]);
  client.write('BDAT x\r\n');
  assert.deepEqual(await client.replies(1), ['501 5.5.4 Syntax: BDAT size [LAST]']);
  assert.equal(s.messages.length, 1);
});

test('without CHUNKING, BDAT is an unknown command', async () => {
  const s = await server();
  const { client } = await connect(s);
  client.write(`${MAIL}${rcpt('r@c.test')}BDAT 4 LAST\r\n`);
  assert.deepEqual((await client.replies(3))[2], '500 5.5.2 Unknown command');
});

test('DATA still works: dot-unstuffed, and an empty message', async () => {
  const s = await server({ chunking: true });
  const { client } = await connect(s);
  client.write(`${MAIL}${rcpt('r@c.test')}DATA\r\n`);
  assert.match((await client.replies(3))[2]!, /^354 /);
  client.write('..dot\r\nbody\r\n.\r\n');
  assert.deepEqual(await client.replies(1), ['250 2.0.0 Ok: queued as TESTQUEUE1']);
  client.write(`${MAIL}${rcpt('r@c.test')}DATA\r\n`);
  await client.replies(3);
  client.write('.\r\n');
  await client.replies(1);
  assert.equal(s.messages[0]!.data.toString(), '.dot\r\nbody\r\n');
  assert.equal(s.messages[0]!.via, 'data');
  assert.equal(s.messages[1]!.data.length, 0);
});

test('drop: the envelope replies arrive, then the connection ends with no reply to the content', async () => {
  const s = await server({ chunking: true, afterContent: 'drop' });
  const { client } = await connect(s);
  client.write(`${MAIL}${rcpt('r@c.test')}BDAT 2 LAST\r\nhi`);
  assert.deepEqual(
    (await client.replies(2)).map((r) => r.slice(0, 3)),
    ['250', '250'],
  );
  assert.equal(await client.closedWithin(2000), true);
  assert.equal(client.unread, '');
  assert.equal(s.messages.length, 1, 'the server has the message');
  assert.equal(s.messages[0]!.reply, undefined);
});

test('stall: no reply to the content, ever, and the connection stays open', async () => {
  const s = await server({ afterContent: (_m, index) => (index === 0 ? 'reply' : 'stall') });
  const { client } = await connect(s);
  client.write(`${MAIL}${rcpt('r@c.test')}DATA\r\n`);
  await client.replies(3);
  client.write('one\r\n.\r\n');
  assert.deepEqual(await client.replies(1), ['250 2.0.0 Ok: queued as TESTQUEUE1']);
  client.write(`${MAIL}${rcpt('r@c.test')}DATA\r\n`);
  await client.replies(3);
  client.write('two\r\n.\r\nNOOP\r\n');
  await assert.rejects(client.replies(1, 300), /no 1 replies/);
  assert.equal(client.closed, false);
  assert.equal(s.messages.length, 2);
  assert.equal(s.messages[1]!.reply, undefined);
});

test('content replies are configurable; a refused message is recorded with its reply', async () => {
  const s = await server({ chunking: true, contentReplies: ['452 4.3.1 Insufficient storage'] });
  const { client } = await connect(s);
  client.write(
    `${MAIL}${rcpt('r@c.test')}BDAT 1 LAST\r\nx${MAIL}${rcpt('r@c.test')}BDAT 1 LAST\r\ny`,
  );
  const replies = await client.replies(6);
  assert.equal(replies[2], '452 4.3.1 Insufficient storage');
  assert.equal(replies[5], '250 2.0.0 Ok: queued as TESTQUEUE1');
  assert.deepEqual(
    s.messages.map((m) => m.reply),
    ['452 4.3.1 Insufficient storage', '250 2.0.0 Ok: queued as TESTQUEUE1'],
  );
});

test('flights: commands sent one at a time arrive one per read', async () => {
  const s = await server({ chunking: true, pipelining: false });
  const { client } = await connect(s);
  for (const line of [MAIL, rcpt('r@c.test')]) {
    client.write(line);
    await client.replies(1);
  }
  client.write('BDAT 1 LAST\r\nx');
  await client.replies(1);
  assert.deepEqual(s.flights.slice(-3), [
    ['tls: MAIL FROM:<sender@b.test>'],
    ['tls: RCPT TO:<r@c.test>'],
    ['tls: BDAT 1 LAST'],
  ]);
});
