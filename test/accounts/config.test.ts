// The settings domain onboarding added to the configuration.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.ts';

const base = { SECUREMAIL_DATA_DIR: '/nonexistent-test-dir' };

test('defaults: resolv.conf servers, 2 s timeout, _securemail, 2 min to 60 min backoff, 72 h, daily', () => {
  const config = loadConfig(base);
  assert.ok(config.dnsServers.length > 0);
  assert.equal(config.dnsTimeoutMs, 2000);
  assert.equal(config.dmarcRua, undefined);
  assert.equal(config.ownershipLabel, '_securemail');
  assert.deepEqual(config.verification, {
    firstDelayMinutes: 2,
    maxDelayMinutes: 60,
    giveUpHours: 72,
    recheckHours: 24,
    pollSeconds: 30,
  });
  assert.ok(Object.isFrozen(config.verification));
});

test('values are read and normalised', () => {
  const config = loadConfig({
    ...base,
    SECUREMAIL_DNS_SERVERS: '192.0.2.53, [2001:db8::53]:5353',
    SECUREMAIL_DNS_TIMEOUT_MS: '500',
    SECUREMAIL_DMARC_RUA: 'mailto:DMARC@Reports.Example.NET',
    SECUREMAIL_OWNERSHIP_LABEL: '_Verify',
    SECUREMAIL_VERIFY_FIRST_DELAY_MINUTES: '5',
    SECUREMAIL_VERIFY_MAX_DELAY_MINUTES: '120',
    SECUREMAIL_VERIFY_GIVE_UP_HOURS: '24',
    SECUREMAIL_VERIFY_RECHECK_HOURS: '12',
    SECUREMAIL_VERIFY_POLL_SECONDS: '10',
  });
  assert.deepEqual(config.dnsServers, [
    { host: '192.0.2.53', port: 53 },
    { host: '2001:db8::53', port: 5353 },
  ]);
  assert.equal(config.dnsTimeoutMs, 500);
  assert.equal(config.dmarcRua, 'DMARC@reports.example.net');
  assert.equal(config.ownershipLabel, '_verify');
  assert.deepEqual(config.verification, {
    firstDelayMinutes: 5,
    maxDelayMinutes: 120,
    giveUpHours: 24,
    recheckHours: 12,
    pollSeconds: 10,
  });
});

test('bad values name their variable', () => {
  const bad: Array<[string, string]> = [
    ['SECUREMAIL_DNS_SERVERS', 'dns.example.com'],
    ['SECUREMAIL_DNS_SERVERS', '192.0.2.1:99999'],
    ['SECUREMAIL_DNS_TIMEOUT_MS', 'soon'],
    ['SECUREMAIL_DMARC_RUA', 'not an address'],
    ['SECUREMAIL_OWNERSHIP_LABEL', 'two.labels'],
    ['SECUREMAIL_VERIFY_GIVE_UP_HOURS', '0'],
    ['SECUREMAIL_VERIFY_MAX_DELAY_MINUTES', '1'],
  ];
  for (const [variable, value] of bad) {
    assert.throws(
      () => loadConfig({ ...base, SECUREMAIL_VERIFY_FIRST_DELAY_MINUTES: '2', [variable]: value }),
      (error: unknown) => error instanceof ConfigError && error.variable === variable,
      `${variable}=${value}`,
    );
  }
});
