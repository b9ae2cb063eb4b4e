import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createClient, deleteClient, rotateClient } from '../../src/clients/clients-service.ts';
import { requestToken, startTestApp, type TestApp } from '../support/app.ts';
import { dialects, type TestStore } from '../support/db.ts';

const TOKEN_URL = '/oauth/client_credential/accesstoken';

for (const dialect of dialects()) {
  describe(`OAuth client credentials (${dialect.name})`, () => {
    let store: TestStore;
    let t: TestApp;
    let clientId: string;
    let clientSecret: string;

    before(async () => {
      store = await dialect.open();
      t = await startTestApp(store);
      ({ clientId, clientSecret } = await createClient(store, { name: 'shop' }, t.clock.now));
    });
    after(async () => {
      await t.close();
      await store.close();
    });

    const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
    const formHeaders = { 'content-type': 'application/x-www-form-urlencoded' };

    test('form body credentials give a KPN-shaped token', async () => {
      const response = await t.app.inject({
        method: 'POST',
        url: `${TOKEN_URL}?grant_type=client_credentials`,
        headers: formHeaders,
        payload: form({ client_id: clientId, client_secret: clientSecret }),
      });
      assert.equal(response.statusCode, 200);
      assert.equal(response.headers['cache-control'], 'no-store');
      const body = response.json();
      assert.equal(body.token_type, 'Bearer');
      assert.equal(body.expires_in, '3599');
      assert.equal(body.status, 'approved');
      assert.equal(body.client_id, clientId);
      assert.equal(body.application_name, 'shop');
      assert.equal(body.issued_at, String(t.clock.now));
      assert.equal(typeof body.scope, 'string');
      assert.match(body.access_token, /^[A-Za-z0-9_-]{40,}$/);
    });

    test('HTTP Basic credentials and grant_type in the body work too', async () => {
      const basic = Buffer.from(`${clientId}:${clientSecret}`).toString('base64');
      const response = await t.app.inject({
        method: 'POST',
        url: TOKEN_URL,
        headers: { ...formHeaders, authorization: `Basic ${basic}` },
        payload: form({ grant_type: 'client_credentials' }),
      });
      assert.equal(response.statusCode, 200);
      const token = response.json().access_token;
      const account = await t.app.inject({
        method: 'GET',
        url: '/account?domain=example.nl',
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(account.statusCode, 404, 'the token is accepted (no account yet)');
    });

    test('a wrong secret or unknown client is 401 invalid_client', async () => {
      for (const payload of [
        form({ client_id: clientId, client_secret: 'wrong' }),
        form({ client_id: 'nobody', client_secret: clientSecret }),
        form({ client_id: clientId }),
      ]) {
        const response = await t.app.inject({
          method: 'POST',
          url: `${TOKEN_URL}?grant_type=client_credentials`,
          headers: formHeaders,
          payload,
        });
        assert.equal(response.statusCode, 401);
        assert.equal(response.json().name, 'invalid_client');
        assert.match(String(response.headers['www-authenticate']), /^Basic/);
      }
    });

    test('a wrong grant type is 400 unsupported_grant_type; a missing one names the field', async () => {
      const wrong = await t.app.inject({
        method: 'POST',
        url: `${TOKEN_URL}?grant_type=password`,
        headers: formHeaders,
        payload: form({ client_id: clientId, client_secret: clientSecret }),
      });
      assert.equal(wrong.statusCode, 400);
      assert.equal(wrong.json().name, 'unsupported_grant_type');
      const missing = await t.app.inject({
        method: 'POST',
        url: TOKEN_URL,
        headers: formHeaders,
        payload: form({ client_id: clientId, client_secret: clientSecret }),
      });
      assert.equal(missing.statusCode, 400);
      assert.equal(missing.json().field, 'grant_type');
    });

    test('a token stops working when it expires', async () => {
      const token = await requestToken(t.app, clientId, clientSecret);
      const headers = { authorization: `Bearer ${token}` };
      const url = '/account?domain=example.nl';
      assert.equal((await t.app.inject({ method: 'GET', url, headers })).statusCode, 404);
      const issued = t.clock.now;
      t.clock.now = issued + 3599 * 1000 + 1;
      try {
        const expired = await t.app.inject({ method: 'GET', url, headers });
        assert.equal(expired.statusCode, 401);
        assert.equal(expired.json().name, 'invalid_token');
      } finally {
        t.clock.now = issued;
      }
    });

    test('missing, malformed and unknown tokens are 401', async () => {
      for (const authorization of [
        undefined,
        'Bearer',
        'Basic abc',
        'Bearer not-a-real-token',
        `Bearer ${'x'.repeat(43)}`,
      ]) {
        const response = await t.app.inject({
          method: 'GET',
          url: '/account?domain=example.nl',
          headers: authorization === undefined ? {} : { authorization },
        });
        assert.equal(response.statusCode, 401, String(authorization));
        assert.equal(response.json().name, 'invalid_token');
        assert.match(String(response.headers['www-authenticate']), /^Bearer/);
      }
    });

    test('rotating a client revokes its tokens and the old secret', async () => {
      const other = await createClient(store, { name: 'rotating' }, t.clock.now);
      const token = await requestToken(t.app, other.clientId, other.clientSecret);
      const rotated = await rotateClient(store, other.clientId, t.clock.now);
      assert.ok(rotated);
      const response = await t.app.inject({
        method: 'GET',
        url: '/account?domain=example.nl',
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(response.statusCode, 401);
      await assert.rejects(requestToken(t.app, other.clientId, other.clientSecret), /401/);
      assert.ok(await requestToken(t.app, other.clientId, rotated.clientSecret));
    });

    test('deleting a client revokes its tokens', async () => {
      const other = await createClient(store, { name: 'leaving' }, t.clock.now);
      const token = await requestToken(t.app, other.clientId, other.clientSecret);
      assert.equal(await deleteClient(store, other.clientId), true);
      const response = await t.app.inject({
        method: 'GET',
        url: '/account?domain=example.nl',
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(response.statusCode, 401);
      assert.equal(await deleteClient(store, other.clientId), false);
    });
  });
}
