// Issue 15, slow clients: an API client and an SMTP client (to the bounce MX) that send their
// request a byte at a time are cut off by time limits, and others are served meanwhile. The
// limits here are seconds instead of the defaults' minutes; the rules are the same.
// Without SECUREMAIL_HTTP_*_TIMEOUT_SECONDS (Node's defaults then: 60 s for headers) and the
// MX's session limit (the idle timeout restarts with every byte) these clients were never cut.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type RunningMx, startInboundMx } from '../../src/inbound/mx-server.ts';
import { loadInboundConfig } from '../../src/inbound/settings.ts';
import { startWorld, type World } from '../delivery/support.ts';
import { dialects, type TestStore } from '../support/db.ts';
import { trickle } from '../support/trickle.ts';

/** An SMTP dialogue at normal speed: each line once the previous reply (or greeting) came. */
function dialogue(
  port: number,
  lines: string[],
): { received: () => string; closed: Promise<number> } {
  const socket = net.connect(port, '127.0.0.1');
  let received = '';
  const started = Date.now();
  const queue = [...lines];
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString('latin1');
    if (/^\d{3} [^\r\n]*\r\n$/m.test(received.split(/\r\n(?=.)/).at(-1) ?? '')) {
      const next = queue.shift();
      if (next !== undefined) socket.write(`${next}\r\n`);
    }
  });
  socket.on('error', () => {});
  const closed = new Promise<number>((resolve) => {
    socket.on('close', () => resolve(Date.now() - started));
  });
  return { received: () => received, closed };
}

/** A plain request on its own connection: the status line's code and the time it took. */
async function quickRequest(port: number, path: string): Promise<{ code: number; ms: number }> {
  const started = Date.now();
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  await response.arrayBuffer();
  return { code: response.status, ms: Date.now() - started };
}

describe('slow clients', () => {
  const dialect = dialects()[0]!;
  let store: TestStore;
  let w: World;
  let port: number;
  let mx: RunningMx;
  let mxPort: number;

  before(async () => {
    store = await dialect.open();
    w = await startWorld(store, {
      SECUREMAIL_HTTP_HEADERS_TIMEOUT_SECONDS: '1',
      SECUREMAIL_HTTP_REQUEST_TIMEOUT_SECONDS: '2',
      SECUREMAIL_HTTP_KEEP_ALIVE_SECONDS: '1',
    });
    await w.app.listen({ host: '127.0.0.1', port: 0 });
    port = (w.app.server.address() as net.AddressInfo).port;
    mx = await startInboundMx({
      db: store.db,
      masterKey: randomBytes(32),
      config: {
        ...loadInboundConfig({
          SECUREMAIL_MX_SESSION_TIMEOUT_SECONDS: '2',
          SECUREMAIL_MX_SOCKET_TIMEOUT_MS: '1000',
          SECUREMAIL_MX_CONNECTIONS_PER_ADDRESS: '3',
        }),
        host: '127.0.0.1',
        port: 0,
      },
      hostname: 'mx1.securemail.test',
    });
    mxPort = mx.port;
  });
  after(async () => {
    await mx.close();
    await w.close();
    await store.close();
  });

  test('API: headers sent a byte at a time get 408 and the connection is closed; others are served meanwhile', async () => {
    const slow = trickle(
      port,
      'POST /message HTTP/1.1\r\nHost: api.test\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa',
      100,
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    const other = await quickRequest(port, '/healthz');
    assert.equal(other.code, 200);
    assert.ok(other.ms < 500, `another client waited ${other.ms} ms`);
    const ms = await slow.closed;
    assert.match(slow.received(), /^HTTP\/1\.1 408 /);
    // The headers' time is 1 s, checked every 100 ms.
    assert.ok(ms >= 900 && ms < 2000, `closed after ${ms} ms`);
  });

  test('API: a body sent a byte at a time gets 408 once the request time is up', async () => {
    const auth = Object.entries(w.tenant.auth)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    const head = `POST /message HTTP/1.1\r\nHost: api.test\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n${auth}\r\n`;
    const slow = trickle(port, '{'.repeat(1000), 100, { head });
    const ms = await slow.closed;
    assert.match(slow.received(), /^HTTP\/1\.1 408 /);
    assert.ok(ms >= 1900 && ms < 3500, `closed after ${ms} ms`);
  });

  test('bounce MX: a client trickling a command is answered 421 4.4.2 when the session time is up, though never idle; others are served', async () => {
    const slow = trickle(mxPort, `EHLO ${'x'.repeat(200)}\r\n`, 200);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const quick = dialogue(mxPort, ['EHLO quick.test', 'QUIT']);
    const quickMs = await quick.closed;
    assert.match(quick.received(), /^220 [\s\S]*\r\n250[- ][\s\S]*221 /);
    assert.ok(quickMs < 500, `another client took ${quickMs} ms`);
    const ms = await slow.closed;
    assert.match(slow.received(), /421 4\.4\.2 /);
    // Idle limit 1 s, a byte every 200 ms: only the 2 s session limit ends it.
    assert.ok(ms >= 1900 && ms < 3000, `closed after ${ms} ms`);
  });

  test('bounce MX: one address holds at most SECUREMAIL_MX_CONNECTIONS_PER_ADDRESS connections', async () => {
    const held = [0, 1, 2].map(() => trickle(mxPort, '', 1000));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const fourth = trickle(mxPort, '', 1000);
    await fourth.closed;
    assert.match(fourth.received(), /^421 4\.7\.0 /);
    for (const h of held) assert.match(h.received(), /^220 /);
    await Promise.all(held.map((h) => h.closed));
    // Once they are gone (the session limit), the address may connect again.
    const again = dialogue(mxPort, ['QUIT']);
    await again.closed;
    assert.match(again.received(), /^220 [\s\S]*221 /);
  });
});
