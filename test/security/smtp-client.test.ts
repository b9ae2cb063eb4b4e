// The SMTP client against raw sockets that misbehave: silence, garbage, unsolicited replies,
// and the guard that nothing is sent before verification.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, test } from 'node:test';
import { SmtpClient, type SmtpConnectOptions } from '../../src/security/smtp-client.ts';
import { SmtpError } from '../../src/security/smtp-reply.ts';

const servers: net.Server[] = [];
after(() => {
  for (const server of servers) server.close();
});

/** A raw server: `script` gets each connection. */
async function rawServer(script: (socket: net.Socket) => void): Promise<number> {
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    script(socket);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return (server.address() as net.AddressInfo).port;
}

function connectOptions(port: number): SmtpConnectOptions {
  return {
    address: '127.0.0.1',
    port,
    host: 'mx.raw.test',
    ehloName: 'client.test',
    connectTimeoutMs: 500,
    commandTimeoutMs: 200,
    now: () => new Date(),
  };
}

async function rejectsWith(promise: Promise<unknown>, step: string, kind: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof SmtpError);
    assert.equal(error.step, step);
    assert.equal(error.kind, kind);
    return true;
  });
}

test('a silent server times out at the greeting', async () => {
  const port = await rawServer(() => {});
  await rejectsWith(SmtpClient.connect(connectOptions(port)), 'greeting', 'timeout');
});

test('a refused connection is a network error at connect', async () => {
  const port = await rawServer(() => {});
  servers.at(-1)!.close();
  await new Promise((resolve) => setTimeout(resolve, 20));
  await rejectsWith(SmtpClient.connect(connectOptions(port)), 'connect', 'network');
});

test('garbage instead of a reply is a protocol error', async () => {
  const port = await rawServer((socket) => socket.write('HTTP/1.1 400 Bad Request\r\n'));
  await rejectsWith(SmtpClient.connect(connectOptions(port)), 'greeting', 'protocol');
});

test('a 5xx greeting is a permanent reply error', async () => {
  const port = await rawServer((socket) => socket.write('554 5.3.2 No service\r\n'));
  await assert.rejects(SmtpClient.connect(connectOptions(port)), (error: unknown) => {
    assert.ok(error instanceof SmtpError);
    assert.equal(error.permanent, true);
    assert.equal(error.code, 554);
    return true;
  });
});

test('an unsolicited reply before a command is a protocol error, not a reply to it', async () => {
  const port = await rawServer((socket) => {
    socket.write('220 hi\r\n');
    socket.once('data', () => socket.write('250-mx\r\n250 STARTTLS\r\n250 extra\r\n'));
  });
  const client = await SmtpClient.connect(connectOptions(port));
  await client.ehlo();
  await new Promise((resolve) => setTimeout(resolve, 20));
  await rejectsWith(client.startTls({}), 'starttls', 'protocol');
  client.close();
});

test('nothing is sent before the session is verified', async () => {
  const received: string[] = [];
  const port = await rawServer((socket) => {
    socket.write('220 hi\r\n');
    socket.on('data', (chunk) => {
      received.push(chunk.toString());
      socket.write('250 ok\r\n');
    });
  });
  const client = await SmtpClient.connect(connectOptions(port));
  await rejectsWith(client.mail('a@b.test'), 'mail', 'usage');
  assert.throws(() => client.markVerified('pkix'), SmtpError);
  client.close();
  assert.deepEqual(received, []);
});

test('addresses with CR/LF are refused before anything is written', async () => {
  const port = await rawServer((socket) => socket.write('220 hi\r\n'));
  const client = await SmtpClient.connect(connectOptions(port));
  // Verification is required first anyway; the address check is a second line of defence.
  await rejectsWith(client.rcpt('a@b.test>\r\nDATA'), 'rcpt', 'usage');
  client.close();
});
