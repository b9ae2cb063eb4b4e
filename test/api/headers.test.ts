import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { startTestApp, type Tenant, type TestApp } from '../support/app.ts';
import { dialects, type TestStore } from '../support/db.ts';

function assertStandardHeaders(response: LightMyRequestResponse, what: string): void {
  const h = response.headers;
  assert.equal(h.sunset, 'n/a', what);
  assert.equal(h['api-version'], '1', what);
  assert.equal(h['quota-interval'], '1', what);
  assert.equal(h['quota-time-unit'], 'minute', what);
  assert.match(String(h['quota-limit']), /^\d+$/, what);
  assert.match(String(h['quota-used']), /^\d+$/, what);
  assert.match(String(h['quota-reset-utc']), /^\d{13}$/, what);
  assert.equal(
    h['strict-transport-security'],
    'max-age=31536000; includeSubDomains; preload',
    what,
  );
  assert.equal(h['access-control-allow-origin'], '*', what);
  assert.ok(h['access-control-allow-methods'], what);
  assert.ok(h['access-control-allow-headers'], what);
  assert.match(String(h['access-control-expose-headers']), /quota-used/, what);
  assert.ok(h['x-request-id'], what);
}

describe('standard headers and errors', () => {
  let store: TestStore;
  let t: TestApp;
  let tenant: Tenant;

  before(async () => {
    store = await dialects()[0]!.open();
    t = await startTestApp(store);
    tenant = await t.tenant();
  });
  after(async () => {
    await t.close();
    await store.close();
  });

  test('on success and on every kind of error', async () => {
    const requests = [
      {
        what: '200 account list miss',
        method: 'GET',
        url: '/account?domain=example.nl',
        headers: tenant.auth,
        status: 404,
      },
      {
        what: '201',
        method: 'POST',
        url: '/account',
        headers: tenant.auth,
        payload: { domain: 'hdr.nl', notification_email: 'a@hdr.nl' },
        status: 201,
      },
      {
        what: '200',
        method: 'GET',
        url: '/account?domain=hdr.nl',
        headers: tenant.auth,
        status: 200,
      },
      {
        what: '400',
        method: 'POST',
        url: '/account',
        headers: tenant.auth,
        payload: {},
        status: 400,
      },
      { what: '401', method: 'GET', url: '/account?domain=hdr.nl', headers: {}, status: 401 },
      { what: '404', method: 'GET', url: '/nowhere', headers: {}, status: 404 },
      {
        what: '405',
        method: 'PATCH',
        url: '/oauth/client_credential/accesstoken',
        headers: {},
        status: 405,
      },
      { what: 'healthz', method: 'GET', url: '/healthz', headers: {}, status: 200 },
    ] as const;
    for (const r of requests) {
      const response = await t.app.inject({
        method: r.method,
        url: r.url,
        headers: r.headers,
        ...('payload' in r ? { payload: r.payload } : {}),
      });
      assert.equal(response.statusCode, r.status, r.what);
      assertStandardHeaders(response, r.what);
      if (r.status >= 400) {
        const body = response.json();
        assert.deepEqual(
          Object.keys(body)
            .filter((k) => k !== 'field')
            .sort(),
          ['info', 'message', 'name', 'status', 'transactionId'],
        );
        assert.equal(body.status, r.status);
        assert.equal(
          body.transactionId,
          response.headers['x-request-id'],
          'the body quotes the request id',
        );
      }
    }
  });

  test('authenticated responses carry the caller’s true quota figures', async () => {
    const first = await t.app.inject({
      method: 'GET',
      url: '/account?domain=x.nl',
      headers: tenant.auth,
    });
    const second = await t.app.inject({
      method: 'GET',
      url: '/account?domain=x.nl',
      headers: tenant.auth,
    });
    assert.equal(Number(second.headers['quota-used']), Number(first.headers['quota-used']) + 1);
    assert.equal(second.headers['quota-limit'], '600');
  });

  test('CORS preflight is answered without authentication', async () => {
    const response = await t.app.inject({
      method: 'OPTIONS',
      url: '/account',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
    });
    assert.equal(response.statusCode, 204);
    assertStandardHeaders(response, 'preflight');
    assert.match(String(response.headers['access-control-allow-headers']), /Authorization/);
    assert.match(String(response.headers['access-control-allow-methods']), /POST/);
  });

  test('credentials are allowed for a named origin only', async () => {
    assert.equal(
      (await t.app.inject({ method: 'GET', url: '/healthz' })).headers[
        'access-control-allow-credentials'
      ],
      undefined,
      'never with *',
    );
    const named = await startTestApp(store, { SECUREMAIL_CORS_ORIGIN: 'https://app.example' });
    try {
      for (const method of ['GET', 'OPTIONS'] as const) {
        const response = await named.app.inject({
          method,
          url: '/account?domain=x.nl',
          headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' },
        });
        assert.equal(response.headers['access-control-allow-origin'], 'https://app.example');
        assert.equal(response.headers['access-control-allow-credentials'], 'true', method);
        assert.equal(response.headers.vary, 'Origin');
      }
    } finally {
      await named.close();
    }
  });

  test('405 names the allowed methods; 404 for unknown paths', async () => {
    const wrong = await t.app.inject({ method: 'PUT', url: '/account', headers: tenant.auth });
    assert.equal(wrong.statusCode, 405);
    assert.equal(wrong.json().name, 'method_not_allowed');
    assert.equal(wrong.headers.allow, 'DELETE, GET, PATCH, POST');
    const unknown = await t.app.inject({
      method: 'GET',
      url: '/accounts/foo',
      headers: tenant.auth,
    });
    assert.equal(unknown.statusCode, 404);
    assert.equal(unknown.json().name, 'not_found');
  });

  test('a request id sent by the client is used; a hostile one is replaced', async () => {
    const own = await t.app.inject({
      method: 'GET',
      url: '/nowhere',
      headers: { 'x-request-id': 'client-req-12345' },
    });
    assert.equal(own.json().transactionId, 'client-req-12345');
    const hostile = await t.app.inject({
      method: 'GET',
      url: '/nowhere',
      headers: { 'x-request-id': 'a b\nc'.padEnd(12, 'x') },
    });
    assert.notEqual(hostile.json().transactionId, 'a b\nc');
    assert.match(hostile.json().transactionId, /^[0-9a-f-]{36}$/);
  });
});

describe('internal errors', () => {
  test('a 500 never shows internals', async () => {
    const store = await dialects()[0]!.open();
    const t = await startTestApp(store);
    const tenant = await t.tenant();
    // Break the database under the running app: the next query fails inside the driver.
    await store.close();
    try {
      const response = await t.app.inject({
        method: 'GET',
        url: '/account?domain=example.nl',
        headers: tenant.auth,
      });
      assert.equal(response.statusCode, 500);
      const body = response.json();
      assert.equal(body.name, 'internal_error');
      assert.doesNotMatch(JSON.stringify(body), /sqlite|database|stack|Error:|\.ts/i);
      assertStandardHeaders(response, '500');

      const ready = await t.app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(ready.statusCode, 503);
      assert.equal(ready.json().name, 'service_unavailable');
    } finally {
      await t.close();
    }
  });
});
