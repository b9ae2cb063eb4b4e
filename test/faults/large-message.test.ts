// Issue 15, large work in bounded memory: one large message to many recipients is delivered
// by a worker process whose peak memory does not grow with the number of recipients (the
// body is held once per message, not once per recipient or connection). The worker runs as
// a real `securemail serve --roles worker` child; its peak RSS is VmHWM from /proc. The
// chaos suite's large-message row does the same at 25 MB x 10,000 (docs/faults-network.md).
// Measured here (4 domains, up to 80 connections): before the shared dot-stuffed form and
// the sliced writes 393 MiB for 40 recipients and 703 MiB for 400; after, 250 and 271 MiB.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import {
  chunkContent,
  chunkContentShared,
  dotStuff,
  dotStuffShared,
} from '../../src/security/dot-stuffing.ts';
import {
  openProcessDatabase,
  type ProcessDatabase,
  WorkerProcess,
  workerProcessEnv,
} from '../delivery/process-support.ts';
import { mime, SENDER_DOMAIN, startWorld, type World } from '../delivery/support.ts';
import { chainPem, makeLeaf } from '../support/certs.ts';
import { CountingSink } from '../support/counting-sink.ts';
import { realTime, statuses, until, users } from './support.ts';

const MB = 1024 * 1024;
const MESSAGE_BYTES = 5 * MB;
const DOMAINS = ['big1.test', 'big2.test', 'big3.test', 'big4.test'];

/** A MIME message of about `bytes`, 78-octet CRLF lines. */
export function largeMime(bytes: number): string {
  const line = `${'x'.repeat(76)}\r\n`;
  return mime({ Subject: 'A large message' }, line.repeat(Math.ceil(bytes / line.length)));
}

export function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? Number.NaN);
  return Math.round(kb / 1024);
}

test('the shared DATA and BDAT forms of a large message are the per-send forms', () => {
  const big = (s: string) => Buffer.from(s.repeat(Math.ceil(100_000 / s.length)));
  for (const base of ['abc\r\n', '.abc\r\n', 'abc\n', 'a\rb\r\n', 'x\r\n.y\r\n', 'abc']) {
    for (const tail of ['', 'end', 'end\r\n', '\r', '\n']) {
      const m = Buffer.concat([big(base), Buffer.from(tail)]);
      assert.ok(dotStuff(m).equals(dotStuffShared(Buffer.from(m))), JSON.stringify([base, tail]));
      assert.ok(
        chunkContent(m).equals(chunkContentShared(Buffer.from(m))),
        JSON.stringify([base, tail]),
      );
    }
  }
});

describe('one large message to many recipients', () => {
  let database: ProcessDatabase;
  let w: World;
  const sinks: CountingSink[] = [];

  before(async () => {
    database = await openProcessDatabase('sqlite');
    w = await startWorld(database.store);
    // The worker process runs on the real clock: acceptance times must be real ones too.
    realTime(w);
    let port = 0;
    for (const [i, domain] of DOMAINS.entries()) {
      const host = `mx.${domain}`;
      const leaf = await makeLeaf({ names: [host], issuer: w.ca });
      const sink = await CountingSink.start({
        host: `127.0.0.${41 + i}`,
        port,
        name: host,
        key: leaf.keyPem,
        cert: chainPem(leaf),
      });
      port = sink.port;
      sinks.push(sink);
      w.dns.set(domain, [{ type: 'MX', preference: 10, exchange: host }]);
      w.dns.set(host, [{ type: 'A', data: sink.host }]);
    }
  });
  after(async () => {
    for (const sink of sinks) await sink.close();
    await w.close();
    await database.close();
  });

  /** Submits one message to `n` recipients over the domains and delivers it in a fresh worker process. */
  async function deliver(n: number, prefix: string): Promise<number> {
    const recipients = DOMAINS.flatMap((d) => users(n / DOMAINS.length, d, prefix));
    const accepted = await w.submit({
      sender: `news@${SENDER_DOMAIN}`,
      recipients,
      message: largeMime(MESSAGE_BYTES),
    });
    assert.equal(accepted.statusCode, 202, accepted.body);
    const worker = WorkerProcess.start(
      workerProcessEnv(w, database, {
        SECUREMAIL_SMTP_PORT: String(sinks[0]!.port),
        // Loopback with two busy cores: a 5 MB content may take its time.
        SECUREMAIL_SMTP_COMMAND_TIMEOUT_MS: '20000',
        SECUREMAIL_SMTP_DATA_TIMEOUT_MS: '20000',
      }),
    );
    try {
      await until(
        async () => ((await statuses(w.store)).get('queued') ?? 0) === 0,
        45_000,
        async () =>
          `${JSON.stringify(Object.fromEntries(await statuses(w.store)))}\n${worker.output}`,
      );
      return peakRssMiB(worker.child.pid!);
    } finally {
      await worker.stop();
    }
  }

  test('peak RSS of the worker does not grow with the recipients (5 MB to 40, then to 400)', async (t) => {
    const few = await deliver(40, 'a');
    const many = await deliver(400, 'b');
    const counts = await statuses(w.store);
    assert.equal(counts.get('delivered'), 440, JSON.stringify(Object.fromEntries(counts)));
    let copies = 0;
    for (const sink of sinks) {
      copies += [...sink.accepted.values()].reduce((a, b) => a + b, 0);
      assert.equal(sink.duplicates, 0);
    }
    assert.equal(copies, 440);
    t.diagnostic(`peak RSS: 5 MB x 40 ${few} MiB, 5 MB x 400 ${many} MiB`);
    // Ten times the recipients (and four times the connections): at most a few copies more.
    assert.ok(many < few + 4 * (MESSAGE_BYTES / MB) + 60, `${few} MiB -> ${many} MiB`);
  });
});
