// SMTP PIPELINING (RFC 2920) in the client: MAIL, RCPT and DATA leave in one write only on a
// verified TLS session of a server that advertises PIPELINING, and a refusal at RCPT is never
// taken for a delivery, even when a broken server answers the DATA after it with 354.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import tls from 'node:tls';
import { SmtpClient } from '../../src/security/smtp-client.ts';
import { SmtpError } from '../../src/security/smtp-reply.ts';
import { makeCa, makeLeaf, type TestCert } from '../support/certs.ts';

const HOST = 'mx.pipe.test';
let ca: TestCert;
let leaf: TestCert;
const servers: net.Server[] = [];

before(async () => {
  ca = await makeCa('Pipelining Test CA');
  leaf = await makeLeaf({ names: [HOST], issuer: ca });
});
after(() => {
  for (const server of servers) server.close();
});

/**
 * A raw server that does EHLO/STARTTLS and then answers each chunk it receives with
 * `answer(chunk)`; `chunks` records what arrived after TLS, chunk by chunk.
 */
async function tlsServer(
  capabilities: string[],
  answer: (chunk: string) => string,
): Promise<{ port: number; chunks: string[] }> {
  const chunks: string[] = [];
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.write('220 mx.pipe.test ESMTP\r\n');
    let text = '';
    const onPlain = (data: Buffer) => {
      text += data.toString('latin1');
      if (/^EHLO/m.test(text) && !/STARTTLS/.test(text)) {
        text = '';
        socket.write('250-mx.pipe.test\r\n250 STARTTLS\r\n');
      } else if (/^STARTTLS\r\n/m.test(text)) {
        socket.off('data', onPlain);
        socket.write('220 go ahead\r\n');
        const secure = new tls.TLSSocket(socket, {
          isServer: true,
          key: leaf.keyPem,
          cert: leaf.pem,
        });
        secure.on('error', () => {});
        secure.on('data', (chunk: Buffer) => {
          const s = chunk.toString('latin1');
          if (/^EHLO/.test(s)) {
            const lines = ['mx.pipe.test', ...capabilities];
            secure.write(
              lines.map((l, i) => `250${i === lines.length - 1 ? ' ' : '-'}${l}\r\n`).join(''),
            );
            return;
          }
          chunks.push(s);
          const reply = answer(s);
          if (reply !== '') secure.write(reply);
        });
      }
    };
    socket.on('data', onPlain);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { port: (server.address() as net.AddressInfo).port, chunks };
}

async function verifiedClient(port: number): Promise<SmtpClient> {
  const client = await SmtpClient.connect({
    address: '127.0.0.1',
    port,
    host: HOST,
    ehloName: 'client.test',
    connectTimeoutMs: 1000,
    commandTimeoutMs: 1000,
    now: () => new Date(),
  });
  await client.ehlo();
  await client.startTls({ servername: HOST, ca: ca.pem });
  // The test stands in for the policy engine, which verifies the certificate first.
  client.markVerified('pkix');
  await client.ehlo();
  return client;
}

const MESSAGE = Buffer.from('From: a@b.test\r\nSubject: x\r\n\r\nhello\r\n');

test('pipelined: MAIL, RCPT and DATA in one write, then the message', async () => {
  const { port, chunks } = await tlsServer(['PIPELINING', '8BITMIME'], (s) =>
    s.startsWith('MAIL')
      ? '250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go\r\n'
      : s.endsWith('\r\n.\r\n')
        ? '250 2.0.0 queued as X1\r\n'
        : '',
  );
  const client = await verifiedClient(port);
  const reply = await client.send('bounce@b.test', 'r@pipe.test', MESSAGE, {
    mail: { body: '8BITMIME' },
  });
  assert.equal(reply.code, 250);
  assert.equal(
    chunks[0],
    'MAIL FROM:<bounce@b.test> BODY=8BITMIME\r\nRCPT TO:<r@pipe.test>\r\nDATA\r\n',
  );
  assert.ok(chunks.slice(1).join('').endsWith('hello\r\n.\r\n'));
  await client.quit();
});

test('pipelined refusal at RCPT: the 503 to DATA is read, the error names RCPT, RSET works', async () => {
  const { port, chunks } = await tlsServer(['PIPELINING'], (s) =>
    s.startsWith('MAIL')
      ? '250 2.1.0 ok\r\n550 5.1.1 no such user\r\n503 5.5.1 no valid recipients\r\n'
      : s.startsWith('RSET')
        ? '250 2.0.0 flushed\r\n'
        : '',
  );
  const client = await verifiedClient(port);
  await assert.rejects(client.send('bounce@b.test', 'nobody@pipe.test', MESSAGE), (error) => {
    assert.ok(error instanceof SmtpError);
    assert.equal(error.step, 'rcpt');
    assert.equal(error.code, 550);
    assert.equal(error.permanent, true);
    return true;
  });
  // No message bytes were sent, and the dialogue is still in step.
  assert.deepEqual(chunks, ['MAIL FROM:<bounce@b.test>\r\nRCPT TO:<nobody@pipe.test>\r\nDATA\r\n']);
  assert.equal((await client.rset()).code, 250);
  await client.quit();
});

test('a 354 after a refused RCPT gets an empty message and is still a refusal', async () => {
  const { port, chunks } = await tlsServer(['PIPELINING'], (s) =>
    s.startsWith('MAIL')
      ? '250 ok\r\n550 5.1.1 no such user\r\n354 go on anyway\r\n'
      : s === '.\r\n'
        ? '554 5.5.1 no valid recipients\r\n'
        : '',
  );
  const client = await verifiedClient(port);
  await assert.rejects(client.send('bounce@b.test', 'nobody@pipe.test', MESSAGE), (error) => {
    assert.ok(error instanceof SmtpError);
    assert.equal(error.step, 'rcpt');
    return true;
  });
  assert.deepEqual(chunks.slice(1), ['.\r\n'], 'only the terminating dot, never the message');
  client.close();
});

test('a refused MAIL is reported at MAIL even though RCPT and DATA were pipelined', async () => {
  const { port } = await tlsServer(['PIPELINING'], (s) =>
    s.startsWith('MAIL') ? '451 4.7.1 greylisted\r\n503 no MAIL\r\n503 no RCPT\r\n' : '',
  );
  const client = await verifiedClient(port);
  await assert.rejects(client.send('bounce@b.test', 'r@pipe.test', MESSAGE), (error) => {
    assert.ok(error instanceof SmtpError);
    assert.equal(error.step, 'mail');
    assert.equal(error.code, 451);
    return true;
  });
  client.close();
});

test('without PIPELINING the commands go one at a time', async () => {
  const { port, chunks } = await tlsServer([], (s) =>
    s.startsWith('MAIL')
      ? '250 ok\r\n'
      : s.startsWith('RCPT')
        ? '250 ok\r\n'
        : s.startsWith('DATA')
          ? '354 go\r\n'
          : s.endsWith('\r\n.\r\n')
            ? '250 queued\r\n'
            : '',
  );
  const client = await verifiedClient(port);
  assert.equal((await client.send('bounce@b.test', 'r@pipe.test', MESSAGE)).code, 250);
  assert.deepEqual(chunks.slice(0, 3), [
    'MAIL FROM:<bounce@b.test>\r\n',
    'RCPT TO:<r@pipe.test>\r\n',
    'DATA\r\n',
  ]);
  await client.quit();
});

test('nothing is pipelined on a session that is not verified', async () => {
  const { port, chunks } = await tlsServer(['PIPELINING'], () => '250 ok\r\n');
  const client = await SmtpClient.connect({
    address: '127.0.0.1',
    port,
    host: HOST,
    ehloName: 'client.test',
    connectTimeoutMs: 1000,
    commandTimeoutMs: 1000,
    now: () => new Date(),
  });
  await client.ehlo();
  await client.startTls({ servername: HOST, ca: ca.pem });
  await client.ehlo();
  await assert.rejects(client.send('bounce@b.test', 'r@pipe.test', MESSAGE), (error) => {
    assert.ok(error instanceof SmtpError);
    assert.equal(error.kind, 'usage');
    return true;
  });
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(chunks, []);
  client.close();
});
