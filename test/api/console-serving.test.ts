// The console's static files: served under /console with a strict Content-Security-Policy,
// / redirects there, the libraries come from node_modules, nothing outside console/ is
// reachable, and SECUREMAIL_CONSOLE=off removes all of it.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import { ConfigError } from '../../src/settings.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { dialects, type TestStore } from '../support/db.ts';

describe('console serving', () => {
  let store: TestStore;
  let on: TestApp;
  let off: TestApp;
  before(async () => {
    store = await dialects()[0]!.open();
    on = await startTestApp(store, { SECUREMAIL_BASE_PATH: '/api/v1' });
    off = await startTestApp(store, { SECUREMAIL_CONSOLE: 'off' });
  });
  after(async () => {
    await on.close();
    await off.close();
    await store.close();
  });

  test('/ redirects to the console, whose pages carry the security headers', async () => {
    const root = await on.app.inject({ method: 'GET', url: '/' });
    assert.equal(root.statusCode, 302);
    assert.equal(root.headers.location, '/console/');
    for (const url of [
      '/console/',
      '/console/app.js',
      '/console/style.css',
      '/console/settings.json',
    ]) {
      const response = await on.app.inject({ method: 'GET', url });
      assert.equal(response.statusCode, 200, url);
      const csp = String(response.headers['content-security-policy']);
      for (const directive of [
        "default-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
      ]) {
        assert.ok(csp.includes(directive), `${url}: ${directive}`);
      }
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
      assert.equal(response.headers['x-content-type-options'], 'nosniff');
      assert.equal(response.headers['referrer-policy'], 'no-referrer');
      assert.equal(response.headers['x-frame-options'], 'DENY');
      assert.equal(response.headers['set-cookie'], undefined);
    }
    const index = await on.app.inject({ method: 'GET', url: '/console/' });
    assert.match(String(index.headers['content-type']), /^text\/html/);
    assert.doesNotMatch(index.body, /<script>|<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
  });

  test('the API responses are not changed by the console', async () => {
    const response = await on.app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(response.headers['content-security-policy'], undefined);
  });

  test('settings tell the console where the API is', async () => {
    const response = await on.app.inject({ method: 'GET', url: '/console/settings.json' });
    assert.deepEqual(response.json(), {
      api_base: '/api/v1',
      token_path: '/oauth/client_credential/accesstoken',
      api_version: '1',
    });
  });

  test('the two libraries are served as ES modules without imports of their own', async () => {
    for (const name of ['preact.mjs', 'htm.mjs']) {
      const response = await on.app.inject({ method: 'GET', url: `/console/vendor/${name}` });
      assert.equal(response.statusCode, 200, name);
      assert.match(String(response.headers['content-type']), /^text\/javascript/);
      assert.doesNotMatch(
        response.body,
        /\bimport\s*[{*\w][^;]*from\s*["']/,
        `${name} has no imports`,
      );
      assert.match(response.body, /\bexport\s*(\{|default\b)/);
    }
  });

  test('nothing outside console/ is reachable', async () => {
    for (const url of [
      '/console/../package.json',
      '/console/%2e%2e/package.json',
      '/console/vendor/preact.mjs.map',
      '/console/vendor/../../package.json',
      '/console/nothing.js',
    ]) {
      const response = await on.app.inject({ method: 'GET', url });
      assert.equal(response.statusCode, 404, url);
      assert.equal(response.json().name, 'not_found');
    }
  });

  test('SECUREMAIL_CONSOLE=off removes the console and the redirect', async () => {
    for (const url of ['/', '/console/', '/console/app.js', '/console/vendor/preact.mjs']) {
      const response = await off.app.inject({ method: 'GET', url });
      assert.equal(response.statusCode, 404, url);
    }
    assert.equal((await off.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  });

  test('SECUREMAIL_CONSOLE takes on or off', () => {
    assert.equal(loadConfig({}).console.enabled, true);
    assert.equal(loadConfig({ SECUREMAIL_CONSOLE: 'OFF' }).console.enabled, false);
    assert.equal(loadConfig({ SECUREMAIL_CONSOLE: 'on' }).console.enabled, true);
    assert.throws(
      () => loadConfig({ SECUREMAIL_CONSOLE: 'maybe' }),
      (e: unknown) => e instanceof ConfigError && e.variable === 'SECUREMAIL_CONSOLE',
    );
  });
});
