// SECUREMAIL_PRIVATE_SUFFIXES: private deployments onboard sending domains under their own
// suffixes (shop.internal), which the Public Suffix List does not know.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestApp, type Tenant, type TestApp } from '../support/app.ts';
import { dialects, type TestStore } from '../support/db.ts';

describe('private suffixes', () => {
  let store: TestStore;
  let plain: TestApp;
  let private_: TestApp;
  let alice: Tenant;
  let bob: Tenant;

  before(async () => {
    store = await dialects()[0]!.open();
    plain = await startTestApp(store);
    private_ = await startTestApp(store, { SECUREMAIL_PRIVATE_SUFFIXES: 'internal,corp.example' });
    alice = await plain.tenant('alice');
    bob = await private_.tenant('bob');
  });
  after(async () => {
    await plain.close();
    await private_.close();
    await store.close();
  });

  const post = (t: TestApp, tenant: Tenant, domain: string) =>
    t.app.inject({
      method: 'POST',
      url: '/account',
      headers: tenant.auth,
      payload: { domain, notification_email: 'ops@example.nl' },
    });

  test('without the setting, a domain under a private suffix is refused', async () => {
    const response = await post(plain, alice, 'shop.internal');
    assert.equal(response.statusCode, 400);
    assert.equal(response.json().field, 'domain');
    assert.match(response.json().message, /not a known public suffix/);
  });

  test('with it, the registrable domain under the suffix is onboarded and can be read', async () => {
    const created = await post(private_, bob, 'Shop.Internal');
    assert.equal(created.statusCode, 201, created.body);
    assert.deepEqual(created.json().domain, { name: 'shop.internal', state: 'unverified' });
    const read = await private_.app.inject({
      method: 'GET',
      url: '/account?domain=shop.internal',
      headers: bob.auth,
    });
    assert.equal(read.statusCode, 200);
    assert.equal((await post(private_, bob, 'dept.corp.example')).statusCode, 201);
  });

  test('the suffix itself and subdomains are refused with the reason', async () => {
    const suffix = await post(private_, bob, 'internal');
    assert.equal(suffix.statusCode, 400);
    assert.match(suffix.json().message, /"internal" is a public suffix/);
    const sub = await post(private_, bob, 'www.shop2.internal');
    assert.equal(sub.statusCode, 400);
    assert.match(sub.json().message, /registrable domain "shop2.internal"/);
    // Public domains are judged by the Public Suffix List as before.
    assert.equal((await post(private_, bob, 'www.example.com')).statusCode, 400);
    assert.equal((await post(private_, bob, 'example.com')).statusCode, 201);
  });
});
