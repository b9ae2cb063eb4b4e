// Issue 15, recipient servers that misbehave mid-transaction: one that drops the connection
// after a message's content and before its reply, and one that stalls (accepts TCP and says
// nothing, or goes silent after the content). The message is never counted delivered
// without its 250, time limits hold, and other destinations go on meanwhile. Also the guard
// against the event-loop block found with 10,000 recipients of a dropping server (the
// worker spun on resolved promises for the whole 60 s destination suspension).

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startWorld, type World } from '../delivery/support.ts';
import { chainPem, makeLeaf } from '../support/certs.ts';
import { CountingSink } from '../support/counting-sink.ts';
import { dialects, type TestStore } from '../support/db.ts';
import { byAddress, loopProbe, realTime, submit, until, users } from './support.ts';

for (const dialect of dialects()) {
  describe(`recipient servers that drop or stall (${dialect.name})`, () => {
    let store: TestStore;
    let w: World;

    before(async () => {
      store = await dialect.open();
      w = await startWorld(store, {
        SECUREMAIL_WORKER_CONCURRENCY: '40',
        SECUREMAIL_SMTP_COMMAND_TIMEOUT_MS: '1000',
        SECUREMAIL_SMTP_DATA_TIMEOUT_MS: '1500',
      });
      realTime(w);
    });
    after(async () => {
      await w.worker.stop();
      await w.close();
      await store.close();
    });

    test('a server dropping after DATA with many waiting recipients: deferred, never delivered; the event loop stays free and another domain is delivered meanwhile', async () => {
      // Every other message is dropped at once, the others answered late: the destination is
      // suspended while connections that got their 250 are still open and usable.
      const dropping = await w.addMx('drop.test', '127.0.0.11', {
        afterContent: (_m, index) => (index % 2 === 0 ? 'drop' : 'reply'),
        dataDelayMs: 300,
        pipelining: false,
      });
      const healthy = await w.addMx('fine.test', '127.0.0.12');
      const dropAddresses = users(3000, 'drop.test');
      const fineAddresses = users(300, 'fine.test');
      await submit(w, dropAddresses);
      const probe = loopProbe();
      w.worker.start();
      // The healthy domain's recipients arrive while the dropping domain is suspended.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      await submit(w, fineAddresses);
      w.worker.poke();
      await until(
        async () => {
          const rows = await byAddress(store);
          return [...rows.values()].every((r) => r.status !== 'queued');
        },
        40_000,
        async () => JSON.stringify(Object.fromEntries(await statusCount())),
      );
      const worst = probe.stop();
      const rows = await byAddress(store);
      for (const a of fineAddresses) assert.equal(rows.get(a)?.status, 'delivered', a);
      // A recipient of the dropping server is delivered only with its 250, else deferred.
      const answered = new Set(
        dropping.messages.filter((m) => m.reply?.startsWith('250')).flatMap((m) => m.to),
      );
      for (const a of dropAddresses) {
        const status = rows.get(a)?.status;
        if (status === 'delivered') assert.ok(answered.has(a), `${a} delivered without a 250`);
        else assert.equal(status, 'deferred', a);
      }
      assert.ok(dropping.messages.some((m) => m.reply === undefined));
      assert.equal(healthy.messages.length, 300);
      assert.ok(worst < 1000, `the event loop was blocked for ${Math.round(worst)} ms`);
    });

    test('a server that stalls after the content: deferred by the data timeout, never delivered; another domain goes on', async () => {
      const stalling = await w.addMx('stall.test', '127.0.0.13', { afterContent: 'stall' });
      const healthy = await w.addMx('fine2.test', '127.0.0.14');
      const stalled = users(20, 'stall.test');
      const fine = users(50, 'fine2.test');
      const started = Date.now();
      await submit(w, [...stalled, ...fine]);
      w.worker.poke();
      await until(
        async () => {
          const rows = await byAddress(store);
          return fine.every((a) => rows.get(a)?.status === 'delivered');
        },
        10_000,
        async () => JSON.stringify(Object.fromEntries(await statusCount())),
      );
      // The healthy domain did not wait for the stalled connections' timeouts.
      assert.ok(Date.now() - started < 1500, `healthy domain took ${Date.now() - started} ms`);
      await until(
        async () => {
          const rows = await byAddress(store);
          return stalled.every((a) => rows.get(a)?.status !== 'queued');
        },
        15_000,
        async () => JSON.stringify(Object.fromEntries(await statusCount())),
      );
      const rows = await byAddress(store);
      for (const a of stalled) {
        assert.equal(rows.get(a)?.status, 'deferred', a);
        assert.equal(rows.get(a)?.reason, 'smtp-timeout', a);
        // SECUREMAIL_SMTP_DATA_TIMEOUT_MS, not the command timeout, bounds the final reply.
        assert.match(rows.get(a)?.detail ?? '', /no reply within 1500 ms/);
      }
      assert.ok(stalling.messages.length > 0);
      assert.ok(stalling.messages.every((m) => m.reply === undefined));
      assert.equal(healthy.messages.length, 50);
    });

    test('a server that accepts TCP and never greets: deferred by the command timeout', async () => {
      const silent = new Set<net.Socket>();
      const server = net.createServer((socket) => {
        silent.add(socket);
        socket.on('error', () => {});
      });
      await new Promise<void>((resolve) => server.listen(w.smtpPort, '127.0.0.15', resolve));
      try {
        w.dns.set('mute.test', [{ type: 'MX', preference: 10, exchange: 'mx.mute.test' }]);
        w.dns.set('mx.mute.test', [{ type: 'A', data: '127.0.0.15' }]);
        const mute = users(10, 'mute.test');
        const started = Date.now();
        await submit(w, mute);
        w.worker.poke();
        await until(
          async () => {
            const rows = await byAddress(store);
            return mute.every((a) => rows.get(a)?.status !== 'queued');
          },
          10_000,
          async () => JSON.stringify(Object.fromEntries(await statusCount())),
        );
        const rows = await byAddress(store);
        for (const a of mute) {
          assert.equal(rows.get(a)?.status, 'deferred', a);
          assert.equal(rows.get(a)?.reason, 'smtp-timeout', a);
        }
        // Within about the command timeout (1 s here), not the data timeout nor forever.
        assert.ok(Date.now() - started < 4000, `took ${Date.now() - started} ms`);
        assert.ok(silent.size > 0);
      } finally {
        for (const socket of silent) socket.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });

    test('a server that stops reading in the middle of a large content: deferred by the data timeout, not held forever', async () => {
      const leaf = await makeLeaf({ names: ['mx.deaf.test'], issuer: w.ca });
      const deaf = await CountingSink.start({
        host: '127.0.0.16',
        port: w.smtpPort,
        name: 'mx.deaf.test',
        key: leaf.keyPem,
        cert: chainPem(leaf),
        pipelining: false,
        deafAfterData: true,
      });
      try {
        w.dns.set('deaf.test', [{ type: 'MX', preference: 10, exchange: 'mx.deaf.test' }]);
        w.dns.set('mx.deaf.test', [{ type: 'A', data: '127.0.0.16' }]);
        const line = `${'y'.repeat(76)}\r\n`;
        // Larger than what the socket buffers of both ends take in.
        const started = Date.now();
        await submit(w, ['one@deaf.test'], line.repeat(Math.ceil((16 * 1024 * 1024) / 78)));
        w.worker.poke();
        await until(
          async () => (await byAddress(store)).get('one@deaf.test')?.status === 'deferred',
          10_000,
          async () => JSON.stringify((await byAddress(store)).get('one@deaf.test')),
        );
        const r = (await byAddress(store)).get('one@deaf.test')!;
        assert.equal(r.reason, 'smtp-timeout');
        assert.match(r.detail ?? '', /no reply within 1500 ms/);
        assert.ok(Date.now() - started < 8000, `took ${Date.now() - started} ms`);
        assert.equal(deaf.accepted.size, 0);
      } finally {
        await deaf.close();
      }
    });

    async function statusCount(): Promise<Map<string, number>> {
      const counts = new Map<string, number>();
      for (const r of (await byAddress(store)).values())
        counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
      return counts;
    }
  });
}
