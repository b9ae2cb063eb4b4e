// Which request bodies are read: a token request with HTTP Basic and no body at all, routes
// without a body called with an empty JSON body, and 415 for every body that is not JSON
// (form bodies only at the token endpoint), as the README says.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestApp, type Tenant, type TestApp } from '../support/app.ts';
import { dialects, type TestStore } from '../support/db.ts';

const TOKEN_URL = '/oauth/client_credential/accesstoken?grant_type=client_credentials';

describe('request bodies', () => {
  let store: TestStore;
  let t: TestApp;
  let tenant: Tenant;
  let basic: string;

  before(async () => {
    store = await dialects()[0]!.open();
    t = await startTestApp(store);
    tenant = await t.tenant();
    basic = `Basic ${Buffer.from(`${tenant.clientId}:${tenant.clientSecret}`).toString('base64')}`;
    const created = await t.app.inject({
      method: 'POST',
      url: '/account',
      headers: tenant.auth,
      payload: { domain: 'shop.nl', notification_email: 'ops@shop.nl' },
    });
    assert.equal(created.statusCode, 201, created.body);
  });
  after(async () => {
    await t.close();
    await store.close();
  });

  test('a token for HTTP Basic with no body, no content type (curl -u id:secret -X POST)', async () => {
    for (const headers of [
      { authorization: basic },
      { authorization: basic, 'content-type': 'application/json' },
      { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
    ]) {
      const response = await t.app.inject({ method: 'POST', url: TOKEN_URL, headers });
      assert.equal(response.statusCode, 200, `${JSON.stringify(headers)}: ${response.body}`);
      assert.equal(response.json().token_type, 'Bearer');
    }
    const plain = await t.app.inject({
      method: 'POST',
      url: TOKEN_URL,
      headers: { authorization: basic, 'content-type': 'text/plain' },
      payload: 'client_id=x',
    });
    assert.equal(plain.statusCode, 415);
    assert.equal(plain.json().name, 'unsupported_media_type');
  });

  test('routes without a body take an empty body, with any content type', async () => {
    for (const url of ['/account/verify?domain=shop.nl', '/account/dkim/rotate?domain=shop.nl']) {
      for (const type of [
        'application/json',
        'application/json; charset=utf-8',
        'application/x-www-form-urlencoded',
      ]) {
        const response = await t.app.inject({
          method: 'POST',
          url,
          headers: { ...tenant.auth, 'content-type': type },
        });
        assert.equal(response.statusCode, 200, `${url} ${type}: ${response.body}`);
      }
    }
  });

  test('415 for a body that is not JSON; an empty JSON body where one is needed is a 400 naming it', async () => {
    for (const [type, payload] of [
      ['text/plain', 'domain=x.nl'],
      ['application/x-www-form-urlencoded', 'domain=x.nl&notification_email=a%40x.nl'],
      ['application/xml', '<account/>'],
    ] as const) {
      const response = await t.app.inject({
        method: 'POST',
        url: '/account',
        headers: { ...tenant.auth, 'content-type': type },
        payload,
      });
      assert.equal(response.statusCode, 415, `${type}: ${response.body}`);
      assert.equal(response.json().name, 'unsupported_media_type');
    }
    const empty = await t.app.inject({
      method: 'POST',
      url: '/account',
      headers: { ...tenant.auth, 'content-type': 'application/json' },
    });
    assert.equal(empty.statusCode, 400);
    assert.equal(empty.json().name, 'validation_failed');
    assert.match(empty.json().message, /^body: must be a JSON object/);
    const broken = await t.app.inject({
      method: 'POST',
      url: '/account',
      headers: { ...tenant.auth, 'content-type': 'application/json' },
      payload: '{"__proto__": {"x": 1}}',
    });
    assert.equal(broken.statusCode, 400, 'prototype poisoning is still refused');
  });
});
