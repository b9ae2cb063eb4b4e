// The domain verifier while its database is away: one warning when the outage starts and one
// line when it ends, not an error per poll (a minute-long outage with a 1 s poll wrote 60
// errors before), and the checks run again by themselves when the database is back.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startDomainVerifier } from '../../src/accounts/domain-verifier.ts';
import { openStore, type Store } from '../../src/store/database.ts';
import { dialects, postgresUrl, type TestStore } from '../support/db.ts';
import { TestDnsServer } from '../support/dns-server.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';
import { createAccount, MINUTE, type OnboardingApp, START, startOnboardingApp } from './support.ts';

interface Said {
  level: 'info' | 'warn' | 'error';
  message: string;
}

function recordingLogger(said: Said[]) {
  const at =
    (level: Said['level']) =>
    (_details: object, message: string): void => {
      said.push({ level, message });
    };
  return { info: at('info'), warn: at('warn'), error: at('error'), debug: () => {} };
}

const postgres = dialects().find((d) => d.name === 'postgres');

describe('the domain verifier while the database is away', { skip: postgres === undefined }, () => {
  let store: TestStore;
  let dns: TestDnsServer;
  let t: OnboardingApp;
  let proxy: TcpProxy;
  let proxied: Store;

  before(async () => {
    dns = await TestDnsServer.start();
    store = await postgres!.open();
    t = await startOnboardingApp(store, dns);
    const target = new URL(postgresUrl!);
    proxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port || 5432) });
    proxied = openStore({
      databaseUrl: proxy.url(postgresUrl!),
      pgSchema: store.schema!,
      poolSize: 2,
    });
  });
  after(async () => {
    await proxied?.close();
    await proxy?.close();
    await t?.close();
    await store?.close();
    await dns?.close();
  });

  test('says the outage once, then that it is over, and checks again', async () => {
    await createAccount(t, await t.tenant('away'), 'away-verifier.nl');
    t.clock.now = START + 5 * MINUTE; // its first check is due
    const said: Said[] = [];
    const verifier = startDomainVerifier({
      ...t.deps,
      store: proxied,
      logger: recordingLogger(said) as never,
    });
    try {
      proxy.down();
      for (let poll = 0; poll < 4; poll++) {
        assert.deepEqual(await verifier.runOnce(), { checked: 0, errors: 1 });
      }
      assert.deepEqual(
        said.map((s) => s.level),
        ['warn'],
        `one warning for four failed polls: ${JSON.stringify(said)}`,
      );
      assert.match(said[0]!.message, /domain verifier: the database is unavailable/);

      proxy.up();
      assert.deepEqual(await verifier.runOnce(), { checked: 1, errors: 0 });
      const back = said.slice(1).filter((s) => s.message.startsWith('domain verifier'));
      assert.deepEqual(back, [{ level: 'info', message: 'domain verifier: the database is back' }]);
      assert.equal(
        said.filter((s) => s.level === 'error').length,
        0,
        `no error at all: ${JSON.stringify(said)}`,
      );
    } finally {
      proxy.up();
      await verifier.stop();
    }
  });
});
