// The request logs of a real app, captured from its pino stream: no credential sent in a
// query string, an Authorization header or a broken JSON body appears in any line.

import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { buildApp } from '../../src/api/app.ts';
import { isSecretKey, REDACTED, redactUrl } from '../../src/api/log-redaction.ts';
import { createClient } from '../../src/clients/clients-service.ts';
import { loadConfig } from '../../src/config.ts';
import { requestToken } from '../support/app.ts';
import { dialects, type TestStore } from '../support/db.ts';
import { TEST_EPOCH } from '../support/test-clock.ts';

const TOKEN_URL = '/oauth/client_credential/accesstoken';

test('redactUrl replaces the values of credential-like query keys only', () => {
  assert.equal(redactUrl('/account'), '/account');
  assert.equal(
    redactUrl('/account?domain=shop.nl&access_token=abc&limit=5'),
    `/account?domain=shop.nl&access_token=${REDACTED}&limit=5`,
  );
  assert.equal(
    redactUrl('/x?client%5Fsecret=a&CLIENT_SECRET=b&webhook_secret=c&x-api-key=d&code=e&flag'),
    `/x?client%5Fsecret=${REDACTED}&CLIENT_SECRET=${REDACTED}&webhook_secret=${REDACTED}&x-api-key=${REDACTED}&code=${REDACTED}&flag`,
  );
  assert.equal(redactUrl('/x?%E0%A4%A=secret'), `/x?%E0%A4%A=${REDACTED}`, 'undecodable key');
  for (const key of ['domain', 'since', 'cursor', 'limit', 'grant_type', 'address', 'format'])
    assert.equal(isSecretKey(key), false, key);
  // Not secrets, but no address is logged at info (docs/privacy.md).
  assert.equal(
    redactUrl('/account/data-subject?domain=shop.nl&address=jan%40example.nl'),
    `/account/data-subject?domain=shop.nl&address=${REDACTED}`,
  );
});

for (const dialect of dialects()) {
  describe(`request logs (${dialect.name})`, () => {
    let store: TestStore;
    let app: FastifyInstance;
    const lines: string[] = [];
    let clientId: string;
    let clientSecret: string;
    let token: string;

    before(async () => {
      store = await dialect.open();
      const sink = new Writable({
        write(chunk, _encoding, done) {
          lines.push(...String(chunk).split('\n').filter(Boolean));
          done();
        },
      });
      app = await buildApp({
        config: loadConfig({ SECUREMAIL_DATA_DIR: '/nonexistent-test-dir' }),
        store,
        logger: pino({ level: 'trace' }, sink),
        now: () => TEST_EPOCH,
      });
      await app.ready();
      ({ clientId, clientSecret } = await createClient(store, { name: 'logs' }, TEST_EPOCH));
      token = await requestToken(app, clientId, clientSecret);
    });
    after(async () => {
      await app.close();
      await store.close();
    });

    test('secrets in query strings, headers and bad bodies stay out of every line', async () => {
      lines.length = 0;
      const secrets = {
        querySecret: 'QUERYSECRET1',
        queryToken: 'QUERYTOKEN2',
        encodedKey: 'ENCODEDKEY3',
        password: 'PASSWORD4',
        basic: 'BASICSECRET5',
        jsonBody: 'JSONBODYSECRET6',
        unknownPath: 'UNKNOWNPATH7',
      };
      const form = { 'content-type': 'application/x-www-form-urlencoded' };
      await app.inject({
        method: 'POST',
        url: `${TOKEN_URL}?grant_type=client_credentials&client_secret=${secrets.querySecret}`,
        headers: form,
        payload: `client_id=${clientId}`,
      });
      await app.inject({
        method: 'GET',
        url: `/account?domain=shop.nl&access_token=${secrets.queryToken}&client%5Fsecret=${secrets.encodedKey}&PASSWORD=${secrets.password}`,
        headers: { authorization: `Bearer ${token}` },
      });
      await app.inject({
        method: 'POST',
        url: `${TOKEN_URL}?grant_type=client_credentials`,
        headers: {
          ...form,
          authorization: `Basic ${Buffer.from(`${clientId}:${secrets.basic}`).toString('base64')}`,
        },
      });
      await app.inject({
        method: 'POST',
        url: `${TOKEN_URL}?grant_type=client_credentials`,
        headers: { 'content-type': 'application/json' },
        payload: secrets.jsonBody,
      });
      await app.inject({ method: 'GET', url: `/nowhere?token=${secrets.unknownPath}` });
      // Objects logged by hand with headers or credential fields are redacted as well.
      app.log.info(
        { headers: { authorization: `Bearer ${token}` }, body: { client_secret: clientSecret } },
        'hand-made line',
      );

      const all = lines.join('\n');
      assert.ok(lines.length >= 10, `the app logged: ${lines.length} lines`);
      for (const [what, secret] of Object.entries({ ...secrets, token, clientSecret }))
        assert.ok(!all.includes(secret), `${what} appears in the log`);
      const urls = lines
        .map((l) => JSON.parse(l) as { req?: { url?: string; headers?: unknown } })
        .filter((l) => l.req?.url !== undefined);
      assert.ok(urls.length >= 5, 'incoming requests are logged with their URL');
      assert.ok(
        urls.some(
          (l) =>
            l.req?.url ===
            `/account?domain=shop.nl&access_token=${REDACTED}&client%5Fsecret=${REDACTED}&PASSWORD=${REDACTED}`,
        ),
        'the URL is kept, with the secret values replaced',
      );
      assert.ok(
        urls.every((l) => l.req?.headers === undefined),
        'no request headers are logged',
      );
    });
  });
}
