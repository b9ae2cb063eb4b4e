import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/config.ts';
import { loadInboundConfig } from '../../src/inbound/settings.ts';
import { loadWebhookConfig } from '../../src/notify/settings.ts';

describe('inbound and webhook configuration', () => {
  it('has defaults', () => {
    const mx = loadInboundConfig({});
    assert.deepEqual([mx.enabled, mx.host, mx.port, mx.tlsCert], [true, '0.0.0.0', 25, undefined]);
    assert.equal(mx.storeBytes, 1024 ** 3);
    assert.equal(loadInboundConfig({ SECUREMAIL_MX_STORE_BYTES: '0' }).storeBytes, 0);
    const hooks = loadWebhookConfig({});
    assert.deepEqual(
      [hooks.allowPrivate, hooks.retryHours, hooks.disableAfterHours],
      [false, 24, 24],
    );
  });

  it('port 0 disables the MX', () => {
    assert.equal(loadInboundConfig({ SECUREMAIL_MX_PORT: '0' }).enabled, false);
  });

  it('names the variable in errors', () => {
    const cases: [Record<string, string>, string][] = [
      [{ SECUREMAIL_MX_PORT: '99999' }, 'SECUREMAIL_MX_PORT'],
      [{ SECUREMAIL_MX_TLS_CERT: '/etc/cert.pem' }, 'SECUREMAIL_MX_TLS_KEY'],
      [{ SECUREMAIL_MX_MAX_MESSAGE_BYTES: 'lots' }, 'SECUREMAIL_MX_MAX_MESSAGE_BYTES'],
      [{ SECUREMAIL_MX_STORE_BYTES: '-1' }, 'SECUREMAIL_MX_STORE_BYTES'],
      [{ SECUREMAIL_MX_STORE_BYTES: '1GB' }, 'SECUREMAIL_MX_STORE_BYTES'],
    ];
    for (const [env, variable] of cases) {
      assert.throws(
        () => loadInboundConfig(env),
        (e: unknown) => e instanceof ConfigError && e.variable === variable,
      );
    }
    assert.throws(
      () => loadWebhookConfig({ SECUREMAIL_WEBHOOK_ALLOW_PRIVATE: 'maybe' }),
      (e: unknown) => e instanceof ConfigError && e.variable === 'SECUREMAIL_WEBHOOK_ALLOW_PRIVATE',
    );
  });
});
