// Slow clients (issue 15): API clients that send their request at one byte per second (half
// of them the headers, half the body after complete headers), and SMTP clients that talk to
// the bounce MX at one byte per second, while ordinary clients submit messages and talk to
// the MX from another address. The slow ones must be cut off by the time limits
// (SECUREMAIL_HTTP_HEADERS_TIMEOUT_SECONDS / _REQUEST_TIMEOUT_SECONDS: 408 and closed;
// SECUREMAIL_MX_SESSION_TIMEOUT_SECONDS: 421 4.4.2; SECUREMAIL_MX_CONNECTIONS_PER_ADDRESS:
// 421 4.7.0 beyond 10), and the ordinary ones served meanwhile, every recipient delivered.
// The limits are shortened (seconds, not minutes) so that the row fits the suite's time.

import net from 'node:net';
import { type Trickler, trickle } from '../../test/support/trickle.ts';
import { sleep } from '../harness/wait.ts';
import type { ChaosContext, ChaosDatabase, Fault, FaultRow } from '../types.ts';
import {
  addDomain,
  addresses,
  closeNetWorld,
  ledger,
  mimeOf,
  NetService,
  type NetWorld,
  netRow,
  onEachDatabase,
  startNetWorld,
  submit,
  waitAllFinal,
} from './net-support.ts';

const DOMAINS = ['slow1.test', 'slow2.test'];

/** An ordinary SMTP session from another address: EHLO and QUIT; the seconds it took. */
async function ordinarySmtp(port: number): Promise<{ ok: boolean; seconds: number }> {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' });
  const started = Date.now();
  let received = '';
  let step = 0;
  return new Promise((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (step === 0 && /^220 .*\r\n$/m.test(received)) {
        step = 1;
        socket.write('EHLO ordinary.test\r\n');
      } else if (step === 1 && /\r\n250 [^\r\n]*\r\n$/.test(received)) {
        step = 2;
        socket.write('QUIT\r\n');
      }
    });
    socket.on('error', () => {});
    socket.on('close', () =>
      resolve({ ok: /\r\n221 /.test(received), seconds: (Date.now() - started) / 1000 }),
    );
  });
}

/** Half send their headers a byte a second, half complete headers at once and then the body. */
function slowHttp(world: NetWorld, port: number, n: number): Trickler[] {
  const head = `POST /message HTTP/1.1\r\nHost: api.test\r\nAuthorization: ${world.auth}\r\nContent-Type: application/json\r\nContent-Length: 600\r\n\r\n`;
  return Array.from({ length: n }, (_, i) =>
    i % 2 === 0
      ? trickle(
          port,
          `POST /message HTTP/1.1\r\nHost: api.test\r\nX-Slow: ${'a'.repeat(600)}`,
          1000,
        )
      : trickle(port, '{'.repeat(600), 1000, { head }),
  );
}

async function runOn(context: ChaosContext, database: ChaosDatabase): Promise<FaultRow> {
  const headersSeconds = context.short ? 3 : 10;
  const requestSeconds = context.short ? 6 : 30;
  const sessionSeconds = context.short ? 5 : 20;
  const slowHttpCount = context.short ? 40 : 200;
  const slowSmtpCount = 20;
  const messages = context.short ? 10 : 50;
  const started = Date.now();
  const world = await startNetWorld(context, database);
  const notes: string[] = [];
  try {
    for (const [i, domain] of DOMAINS.entries()) await addDomain(world, domain, 91 + i);
    const service = await NetService.start(world, 'api,worker,mx', {
      SECUREMAIL_HTTP_HEADERS_TIMEOUT_SECONDS: String(headersSeconds),
      SECUREMAIL_HTTP_REQUEST_TIMEOUT_SECONDS: String(requestSeconds),
      SECUREMAIL_MX_SESSION_TIMEOUT_SECONDS: String(sessionSeconds),
    });
    const http = slowHttp(world, service.httpPort, slowHttpCount);
    const smtp = Array.from({ length: slowSmtpCount }, () =>
      trickle(service.mxPort, `EHLO ${'s'.repeat(300)}\r\n`, 1000),
    );
    await sleep(500);
    // Ordinary clients meanwhile.
    let accepted = 0;
    let slowestSubmit = 0;
    for (let i = 0; i < messages; i++) {
      const list = DOMAINS.flatMap((d) => addresses(10, d, `m${i}-`));
      const response = await submit(world, service, list, mimeOf(2_000));
      if (response.status === 202) accepted += list.length;
      else notes.push(`submission answered ${response.status}`);
      slowestSubmit = Math.max(slowestSubmit, response.ms);
    }
    const ordinary = await ordinarySmtp(service.mxPort);
    const httpSeconds = (await Promise.all(http.map((t) => t.closed))).map((ms) => ms / 1000);
    const smtpSeconds = (await Promise.all(smtp.map((t) => t.closed))).map((ms) => ms / 1000);
    const got408 = http.filter((t) => / 408 /.test(t.received())).length;
    const sessionLimited = smtp.filter((t) => /421 4\.4\.2 /.test(t.received())).length;
    const addressLimited = smtp.filter((t) => /^421 4\.7\.0 /.test(t.received())).length;
    const allFinal = await waitAllFinal(world.store, 60_000);
    const l = await ledger(world);
    const httpMax = Math.max(...httpSeconds);
    const smtpMax = Math.max(...smtpSeconds);
    notes.push(
      `${got408}/${slowHttpCount} slow HTTP clients got 408, all closed within ${httpMax.toFixed(1)} s (limits ${headersSeconds}/${requestSeconds} s)`,
      `${sessionLimited}/${slowSmtpCount} slow SMTP clients got 421 4.4.2 within ${smtpMax.toFixed(1)} s (limit ${sessionSeconds} s), ${addressLimited} got 421 4.7.0`,
      `slowest ordinary submission ${slowestSubmit} ms; ordinary MX session ${ordinary.ok ? 'served' : 'NOT served'} in ${ordinary.seconds.toFixed(2)} s`,
    );
    return netRow({
      database,
      fault: 'slow-clients',
      runs: slowHttpCount + slowSmtpCount,
      accepted,
      sent: messages * 20,
      allFinal,
      ledger: l,
      duplicateBound: 0,
      peakRssMiB: service.peakRssMiB(),
      notes,
      checks: [
        got408 === slowHttpCount,
        httpMax <= requestSeconds + 2,
        sessionLimited + addressLimited === slowSmtpCount,
        addressLimited === slowSmtpCount - 10,
        smtpMax <= sessionSeconds + 2,
        ordinary.ok,
        slowestSubmit < 2_000,
      ],
      started,
    });
  } finally {
    await closeNetWorld(world);
  }
}

export const fault: Fault = {
  name: 'slow-clients',
  describe: 'API and bounce-MX clients that send one byte per second',
  run: (context) => onEachDatabase(context, 'slow-clients', (database) => runOn(context, database)),
};
