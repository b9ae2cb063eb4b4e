// The benchmark sink's WAN model and its CHUNKING, checked with a raw client: the latency
// figures in BENCHMARKS.md are only as honest as these delays. Lower bounds are exact (a
// delay is never shorter); upper bounds are loose, for a busy 2-core machine, and only as
// tight as needed to tell one round trip from two.
import assert from 'node:assert/strict';
import { type ChildProcess, fork } from 'node:child_process';
import { after, before, test } from 'node:test';
import type { SinkStart, SinkStats } from '../../bench/sink.ts';
import { chainPem, makeCa, makeLeaf, type TestCert } from '../support/certs.ts';
import { RawSmtpClient } from '../support/raw-smtp-client.ts';

const HOST = 'mx.sink.test';
const RTT = 100;
let ca: TestCert;
let leaf: TestCert;
const children: ChildProcess[] = [];
const clients: RawSmtpClient[] = [];

before(async () => {
  ca = await makeCa('Sink Test CA');
  leaf = await makeLeaf({ names: [HOST], issuer: ca });
});
after(() => {
  for (const c of clients) c.close();
  for (const child of children) child.kill();
});

async function sink(rttMs: number, chunking: boolean) {
  const child = fork(new URL('../../bench/sink.ts', import.meta.url), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.push(child);
  const start: SinkStart = { key: leaf.keyPem, cert: chainPem(leaf), rttMs, chunking };
  const port = await new Promise<number>((resolve) => {
    child.once('message', (m: { port: number }) => resolve(m.port));
    child.send(start);
  });
  const stats = () =>
    new Promise<SinkStats>((resolve) => {
      child.once('message', (m: SinkStats) => resolve(m));
      child.send({ stats: true });
    });
  return { port, stats };
}

/** Milliseconds `work` took. */
async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

test('WAN mode: every exchange costs one round trip, the TCP and TLS handshakes included', async () => {
  const { port, stats } = await sink(RTT, true);
  let client: RawSmtpClient | undefined;
  // Connect (loopback, instant) and read the greeting: SYN, SYN-ACK, ACK, then the 220.
  const greeting = await timed(async () => {
    client = await RawSmtpClient.connect(port);
    await client.replies(1, 5000);
  });
  clients.push(client!);
  const c = client!;
  assert.ok(greeting >= 2 * RTT - 2 && greeting < 3.5 * RTT, `greeting after ${greeting} ms`);
  const ehlo = await timed(async () => {
    c.write('EHLO client.test\r\n');
    await c.replies(1);
  });
  assert.ok(ehlo >= RTT - 2 && ehlo < 1.9 * RTT, `EHLO answered after ${ehlo} ms`);
  // STARTTLS (one round trip), then TLS 1.3: ClientHello -> ServerHello..Finished (one more).
  const handshake = await timed(() => c.startTls(HOST, ca.pem));
  assert.ok(handshake >= 2 * RTT - 2, `STARTTLS and handshake in ${handshake} ms`);
  c.write('EHLO client.test\r\n');
  const caps = (await c.replies(1))[0]!;
  assert.match(caps, /\|250-PIPELINING\|/);
  assert.match(caps, /CHUNKING/);
  assert.match(caps, /SMTPUTF8/);
  assert.match(caps, /DSN/);
  // A pipelined flight gets all its replies one round trip later, not one per command.
  const body = 'Subject: x\r\n\r\n.\r\n';
  const flight = await timed(async () => {
    c.write(
      `MAIL FROM:<a@b.test>\r\nRCPT TO:<x@d0.test>\r\nRCPT TO:<y@d0.test>\r\nBDAT ${body.length} LAST\r\n${body}`,
    );
    const replies = await c.replies(4);
    assert.match(replies[3]!, /^250 2\.0\.0 Ok: queued/);
  });
  assert.ok(flight >= RTT - 2 && flight < 1.9 * RTT, `flight answered after ${flight} ms`);
  const s = await stats();
  assert.deepEqual(
    [s.connections, s.messages, s.recipients, s.chunked, s.bytes],
    [1, 1, 2, 1, body.length],
  );
  assert.ok(s.cpuMicros > 0);
});

test('loopback mode with CHUNKING off: DATA as before, BDAT unknown, replies at once', async () => {
  const { port, stats } = await sink(0, false);
  const c = await RawSmtpClient.connect(port);
  clients.push(c);
  await c.replies(1);
  c.write('EHLO client.test\r\n');
  await c.replies(1);
  await c.startTls(HOST, ca.pem);
  c.write('EHLO client.test\r\n');
  assert.doesNotMatch((await c.replies(1))[0]!, /CHUNKING/);
  const elapsed = await timed(async () => {
    c.write('MAIL FROM:<a@b.test>\r\nRCPT TO:<x@d0.test>\r\nDATA\r\n');
    assert.match((await c.replies(3))[2]!, /^354 /);
    c.write('..dot\r\n.\r\nBDAT 1 LAST\r\n');
    assert.deepEqual(
      (await c.replies(2)).map((r) => r.slice(0, 3)),
      ['250', '500'],
    );
  });
  assert.ok(elapsed < RTT, `loopback took ${elapsed} ms`);
  const s = await stats();
  assert.deepEqual([s.messages, s.recipients, s.chunked, s.bytes], [1, 1, 0, '..dot\r\n'.length]);
});
