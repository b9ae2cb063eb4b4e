import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.ts';

describe('configuration', () => {
  test('defaults: SQLite under ./data, 127.0.0.1:8080, no base path', () => {
    const config = loadConfig({}, '/srv/app');
    assert.equal(config.databaseUrl, undefined);
    assert.equal(config.dataDir, '/srv/app/data');
    assert.equal(config.sqlitePath, '/srv/app/data/securemail.db');
    assert.equal(config.httpHost, '127.0.0.1');
    assert.equal(config.httpPort, 8080);
    assert.equal(config.basePath, '');
    assert.equal(config.masterKey, undefined);
    assert.deepEqual(config.quota, { limit: 600, interval: 1, timeUnit: 'minute' });
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.quota));
  });

  test('values from the environment', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://u@db/securemail',
      SECUREMAIL_HTTP_PORT: '9000',
      SECUREMAIL_BASE_PATH: '/securemail/v1/',
      SECUREMAIL_QUOTA_LIMIT: '50',
      SECUREMAIL_QUOTA_TIME_UNIT: 'Day',
      SECUREMAIL_MASTER_KEY: 'a'.repeat(64),
      SECUREMAIL_MX_HOSTS: 'mx1.mail.example, mx2.mail.example',
    });
    assert.equal(config.databaseUrl, 'postgres://u@db/securemail');
    assert.equal(config.httpPort, 9000);
    assert.equal(config.basePath, '/securemail/v1');
    assert.equal(config.quota.limit, 50);
    assert.equal(config.quota.timeUnit, 'day');
    assert.deepEqual(config.mxHosts, ['mx1.mail.example', 'mx2.mail.example']);
  });

  test('DNS trust, allowed networks and private suffixes: safe defaults, values read', () => {
    const defaults = loadConfig({});
    assert.equal(defaults.dnsTrustAd, 'auto');
    assert.deepEqual(defaults.security.allowNetworks, []);
    assert.deepEqual(defaults.privateSuffixes, []);
    const set = loadConfig({
      SECUREMAIL_DNS_TRUST_AD: 'Never',
      SECUREMAIL_MX_ALLOW_NETWORKS: ' 10.20.0.0/16 , fd00::/8',
      SECUREMAIL_PRIVATE_SUFFIXES: 'internal, .Corp',
    });
    assert.equal(set.dnsTrustAd, 'never');
    assert.deepEqual(set.security.allowNetworks, ['10.20.0.0/16', 'fd00::/8']);
    assert.deepEqual(set.privateSuffixes, ['internal', 'corp']);
  });

  test('a wrong value names the variable', () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
      [{ SECUREMAIL_HTTP_PORT: 'eighty' }, 'SECUREMAIL_HTTP_PORT'],
      [{ SECUREMAIL_HTTP_PORT: '70000' }, 'SECUREMAIL_HTTP_PORT'],
      [{ SECUREMAIL_BASE_PATH: 'no-slash' }, 'SECUREMAIL_BASE_PATH'],
      [{ SECUREMAIL_MASTER_KEY: 'short' }, 'SECUREMAIL_MASTER_KEY'],
      [{ SECUREMAIL_QUOTA_LIMIT: '0' }, 'SECUREMAIL_QUOTA_LIMIT'],
      [{ SECUREMAIL_QUOTA_TIME_UNIT: 'fortnight' }, 'SECUREMAIL_QUOTA_TIME_UNIT'],
      [{ SECUREMAIL_MX_HOSTS: 'only-one.example' }, 'SECUREMAIL_MX_HOSTS'],
      [{ SECUREMAIL_SPF_IPS: '300.1.1.1' }, 'SECUREMAIL_SPF_IPS'],
      [{ SECUREMAIL_LOG_LEVEL: 'loud' }, 'SECUREMAIL_LOG_LEVEL'],
      [{ SECUREMAIL_PUBLIC_URL: 'ftp://x' }, 'SECUREMAIL_PUBLIC_URL'],
      [{ SECUREMAIL_DNS_TRUST_AD: 'sometimes' }, 'SECUREMAIL_DNS_TRUST_AD'],
      [{ SECUREMAIL_MX_ALLOW_NETWORKS: '10.0.0.0/40' }, 'SECUREMAIL_MX_ALLOW_NETWORKS'],
      [{ SECUREMAIL_MX_ALLOW_NETWORKS: 'intranet' }, 'SECUREMAIL_MX_ALLOW_NETWORKS'],
      [{ SECUREMAIL_PRIVATE_SUFFIXES: 'in ternal' }, 'SECUREMAIL_PRIVATE_SUFFIXES'],
    ];
    for (const [env, variable] of cases) {
      assert.throws(
        () => loadConfig(env),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.variable === variable &&
          error.message.startsWith(`${variable}: `),
        variable,
      );
    }
  });
});
