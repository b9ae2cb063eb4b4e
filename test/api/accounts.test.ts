import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestApp, type Tenant, type TestApp } from '../support/app.ts';
import { dialects, type TestStore } from '../support/db.ts';

for (const dialect of dialects()) {
  describe(`accounts (${dialect.name})`, () => {
    let store: TestStore;
    let t: TestApp;
    let alice: Tenant;
    let bob: Tenant;

    before(async () => {
      store = await dialect.open();
      t = await startTestApp(store);
      alice = await t.tenant('alice');
      bob = await t.tenant('bob');
    });
    after(async () => {
      await t.close();
      await store.close();
    });

    const post = (tenant: Tenant, payload: unknown, headers: Record<string, string> = {}) =>
      t.app.inject({
        method: 'POST',
        url: '/account',
        headers: { ...tenant.auth, ...headers },
        payload: payload as object,
      });

    test('create, read and delete an account', async () => {
      const created = await post(alice, {
        domain: 'Example.NL',
        notification_email: 'ops@example.nl',
      });
      assert.equal(created.statusCode, 201);
      const body = created.json();
      assert.deepEqual(body.domain, { name: 'example.nl', state: 'unverified' });
      assert.equal(body.notification_email, 'ops@example.nl');
      assert.equal(body.policy_level, 'verified');
      assert.ok(Array.isArray(body.receiving_dns_records.mx));
      for (const mx of body.receiving_dns_records.mx)
        assert.equal(
          mx.hostname,
          'bounce.example.nl',
          'MX on the bounce subdomain, never the apex',
        );
      assert.ok(body.sending_dns_records.ses.value.length > 20);
      assert.equal(body.sending_dns_records.ses.hostname, '_securemail.example.nl');

      const read = await t.app.inject({
        method: 'GET',
        url: '/account?domain=example.nl',
        headers: alice.auth,
      });
      assert.equal(read.statusCode, 200);
      assert.deepEqual(read.json().domain, body.domain);
      assert.equal(read.json().sending_dns_records.ses.value, body.sending_dns_records.ses.value);

      const removed = await t.app.inject({
        method: 'DELETE',
        url: '/account?domain=example.nl',
        headers: alice.auth,
      });
      assert.equal(removed.statusCode, 204);
      const gone = await t.app.inject({
        method: 'GET',
        url: '/account?domain=example.nl',
        headers: alice.auth,
      });
      assert.equal(gone.statusCode, 404);
      assert.equal(gone.json().name, 'account_not_found');
    });

    test('a duplicate domain is 409 and changes nothing', async () => {
      assert.equal(
        (await post(alice, { domain: 'dup.nl', notification_email: 'a@dup.nl' })).statusCode,
        201,
      );
      const again = await post(alice, { domain: 'dup.nl', notification_email: 'other@dup.nl' });
      assert.equal(again.statusCode, 409);
      assert.equal(again.json().name, 'account_exists');
      assert.equal(again.json().field, 'domain');
      const read = await t.app.inject({
        method: 'GET',
        url: '/account?domain=dup.nl',
        headers: alice.auth,
      });
      assert.equal(read.json().notification_email, 'a@dup.nl');
    });

    test('tenants never see or touch each other’s accounts', async () => {
      assert.equal(
        (await post(alice, { domain: 'private.nl', notification_email: 'a@private.nl' }))
          .statusCode,
        201,
      );
      const peek = await t.app.inject({
        method: 'GET',
        url: '/account?domain=private.nl',
        headers: bob.auth,
      });
      assert.equal(peek.statusCode, 404, '404, not 403: existence does not leak');
      const remove = await t.app.inject({
        method: 'DELETE',
        url: '/account?domain=private.nl',
        headers: bob.auth,
      });
      assert.equal(remove.statusCode, 404);
      const still = await t.app.inject({
        method: 'GET',
        url: '/account?domain=private.nl',
        headers: alice.auth,
      });
      assert.equal(still.statusCode, 200);
      // Bob may claim the same domain for himself: only DNS ownership proof lets either send.
      assert.equal(
        (await post(bob, { domain: 'private.nl', notification_email: 'b@private.nl' })).statusCode,
        201,
      );
      const alices = await t.app.inject({
        method: 'GET',
        url: '/account?domain=private.nl',
        headers: alice.auth,
      });
      assert.equal(alices.json().notification_email, 'a@private.nl');
    });

    test('invalid input names the field and creates nothing', async () => {
      const cases: Array<[unknown, string, RegExp]> = [
        [
          { domain: 'www.example.com', notification_email: 'a@example.com' },
          'domain',
          /registrable domain "example.com"/,
        ],
        [{ domain: 'co.uk', notification_email: 'a@example.com' }, 'domain', /public suffix/],
        [
          { domain: 'example.invalidtld', notification_email: 'a@example.com' },
          'domain',
          /not a known public suffix/,
        ],
        [{ domain: '192.0.2.1', notification_email: 'a@example.com' }, 'domain', /./],
        [
          { domain: 'exa mple.com', notification_email: 'a@example.com' },
          'domain',
          /not a valid domain/,
        ],
        [
          { domain: 'good.nl', notification_email: 'not-an-address' },
          'notification_email',
          /not an e-mail address/,
        ],
        [
          { domain: 'good.nl', notification_email: 'a@[192.0.2.1]' },
          'notification_email',
          /literal/,
        ],
        [{ domain: 'good.nl' }, 'notification_email', /required/],
        [{ notification_email: 'a@good.nl' }, 'domain', /required/],
        [
          { domain: 'good.nl', notification_email: 'a@good.nl', colour: 'red' },
          'colour',
          /not a known field/,
        ],
        [{ domain: 42, notification_email: 'a@good.nl' }, 'domain', /string/],
        [
          { domain: 'good.nl', notification_email: 'a@good.nl', policy_level: 'none' },
          'policy_level',
          /./,
        ],
        [
          { domain: 'good.nl', notification_email: 'a@good.nl', bounce_subdomain: 'a.b' },
          'bounce_subdomain',
          /one DNS label/,
        ],
        [[1, 2], 'body', /./],
      ];
      for (const [payload, field, message] of cases) {
        const response = await post(alice, payload);
        assert.equal(response.statusCode, 400, JSON.stringify(payload));
        const body = response.json();
        assert.equal(body.name, 'validation_failed', JSON.stringify(payload));
        assert.equal(body.field, field, JSON.stringify(payload));
        assert.match(body.message, message, JSON.stringify(payload));
      }
      const read = await t.app.inject({
        method: 'GET',
        url: '/account?domain=good.nl',
        headers: alice.auth,
      });
      assert.equal(read.statusCode, 404);
    });

    test('the domain query parameter is validated too', async () => {
      const missing = await t.app.inject({ method: 'GET', url: '/account', headers: alice.auth });
      assert.equal(missing.statusCode, 400);
      assert.equal(missing.json().field, 'domain');
      const sub = await t.app.inject({
        method: 'GET',
        url: '/account?domain=mail.example.nl',
        headers: alice.auth,
      });
      assert.equal(sub.statusCode, 400);
      assert.equal(sub.json().field, 'domain');
    });

    test('bad JSON, wrong content type and oversized bodies are refused', async () => {
      const badJson = await t.app.inject({
        method: 'POST',
        url: '/account',
        headers: { ...alice.auth, 'content-type': 'application/json' },
        payload: '{"domain": "x.nl",',
      });
      assert.equal(badJson.statusCode, 400);
      assert.equal(badJson.json().name, 'invalid_json');

      const xml = await t.app.inject({
        method: 'POST',
        url: '/account',
        headers: { ...alice.auth, 'content-type': 'application/xml' },
        payload: '<account/>',
      });
      assert.equal(xml.statusCode, 415);
      assert.equal(xml.json().name, 'unsupported_media_type');

      const huge = await t.app.inject({
        method: 'POST',
        url: '/account',
        headers: { ...alice.auth, 'content-type': 'application/json' },
        payload: JSON.stringify({
          domain: 'big.nl',
          notification_email: 'a@big.nl',
          pad: 'x'.repeat(t.config.bodyLimitBytes),
        }),
      });
      assert.equal(huge.statusCode, 413);
      assert.equal(huge.json().name, 'payload_too_large');
      const read = await t.app.inject({
        method: 'GET',
        url: '/account?domain=big.nl',
        headers: alice.auth,
      });
      assert.equal(read.statusCode, 404);
    });
  });
}

describe('base path', () => {
  test('SECUREMAIL_BASE_PATH moves the API routes, not the token endpoint', async () => {
    const [sqlite] = dialects();
    const store = await sqlite!.open();
    const t = await startTestApp(store, { SECUREMAIL_BASE_PATH: '/securemail/v1' });
    try {
      const tenant = await t.tenant();
      const prefixed = await t.app.inject({
        method: 'GET',
        url: '/securemail/v1/account?domain=example.nl',
        headers: tenant.auth,
      });
      assert.equal(prefixed.statusCode, 404);
      assert.equal(prefixed.json().name, 'account_not_found');
      const bare = await t.app.inject({
        method: 'GET',
        url: '/account?domain=example.nl',
        headers: tenant.auth,
      });
      assert.equal(bare.statusCode, 404);
      assert.equal(bare.json().name, 'not_found');
    } finally {
      await t.close();
      await store.close();
    }
  });
});
