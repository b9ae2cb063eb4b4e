// Issue 15, the resolver down or answering SERVFAIL for a while: recipients are deferred
// (never refused as final, never delivered by a weaker method, nothing connected to), and go
// out once DNS answers again. The world's clock is moved past each retry time; the worker
// runs one batch at a time (drain). Tests that submit come before those that move the clock
// by hours (the client's token would have expired).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startWorld, type World } from '../delivery/support.ts';
import { dialects, type TestStore } from '../support/db.ts';
import { byAddress, submit, users } from './support.ts';

const HOUR_MS = 3_600_000;

for (const dialect of dialects()) {
  describe(`DNS outage (${dialect.name})`, () => {
    let store: TestStore;
    let w: World;

    before(async () => {
      store = await dialect.open();
      w = await startWorld(store);
    });
    after(async () => {
      w.dns.outage = undefined;
      await w.worker.close();
      await w.close();
      await store.close();
    });

    test('an outage of the answers DANE needs (TLSA SERVFAIL on a signed zone): deferred, never delivered by PKIX', async () => {
      const server = await w.addMx('tlsa-out.test', '127.0.0.22');
      w.dns.sign('tlsa-out.test');
      // TLSA is looked up for the SMTP port in use (the tests' ephemeral one).
      w.dns.fail(`_${w.smtpPort}._tcp.mx.tlsa-out.test`, 'servfail', 'TLSA');
      const addresses = users(5, 'tlsa-out.test');
      await submit(w, addresses);
      await w.drain();
      const rows = await byAddress(w.store);
      for (const a of addresses) {
        const r = rows.get(a)!;
        assert.equal(r.status, 'deferred', `${a}: ${r.status} ${r.reason}`);
      }
      assert.equal(server.messages.length, 0);
      w.dns.clearFailures();
      // Past the first retry (at most a minute after the attempt).
      w.clock.now += 61_000;
      await w.drain();
      const after = await byAddress(w.store);
      for (const a of addresses) assert.equal(after.get(a)?.status, 'delivered', a);
      assert.equal(server.messages.length, 5);
    });

    test('SERVFAIL, then no answer at all, then back: deferred throughout, delivered once DNS returns, each once', async () => {
      const server = await w.addMx('outage.test', '127.0.0.21');
      w.dns.sign('outage.test');
      const addresses = users(30, 'outage.test');

      w.dns.outage = 'servfail';
      await submit(w, addresses);
      await w.drain();
      let rows = await byAddress(w.store);
      for (const a of addresses) {
        const r = rows.get(a)!;
        assert.equal(r.status, 'deferred', `${a}: ${r.status} ${r.reason}`);
        assert.match(r.reason ?? '', /dns|dnssec/, `${a}: ${r.reason}`);
      }
      assert.equal(server.connections, 0, 'nothing may connect without DNS');

      // Still down (now silent) at the next retries, over hours: still deferred, not expired.
      w.dns.outage = 'timeout';
      for (let i = 0; i < 3; i++) {
        w.clock.now += 2 * HOUR_MS;
        await w.drain();
      }
      rows = await byAddress(w.store);
      for (const a of addresses) {
        const r = rows.get(a)!;
        assert.equal(r.status, 'deferred', `${a}: ${r.status} ${r.reason}`);
        assert.ok(r.attempts >= 4, `${a}: ${r.attempts} attempts`);
      }
      assert.equal(server.connections, 0);

      // DNS is back: each recipient goes out once.
      w.dns.outage = undefined;
      w.clock.now += 2 * HOUR_MS;
      await w.drain();
      rows = await byAddress(w.store);
      for (const a of addresses) assert.equal(rows.get(a)?.status, 'delivered', a);
      const received = server.messages.flatMap((m) => m.to).sort();
      assert.deepEqual(received, [...addresses].sort());
    });
  });
}
