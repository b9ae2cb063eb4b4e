import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestApp, type TestApp } from '../support/app.ts';
import { dialects, type TestStore } from '../support/db.ts';

describe('docs and operations endpoints', () => {
  let store: TestStore;
  let t: TestApp;
  before(async () => {
    store = await dialects()[0]!.open();
    t = await startTestApp(store);
  });
  after(async () => {
    await t.close();
    await store.close();
  });

  test('/openapi.json is OpenAPI 3.1 from the route schemas, with the OAuth2 flow', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(response.statusCode, 200);
    const doc = response.json();
    assert.equal(doc.openapi, '3.1.0');
    assert.deepEqual(
      doc.components.securitySchemes.oauth2.flows.clientCredentials.tokenUrl,
      '/oauth/client_credential/accesstoken',
    );
    assert.ok(doc.paths['/account'].post, 'POST /account documented');
    assert.ok(
      doc.paths['/account'].get.parameters.some((p: { name: string }) => p.name === 'domain'),
    );
    assert.deepEqual(doc.paths['/account'].get.security, [{ oauth2: [] }]);
    assert.ok(doc.paths['/oauth/client_credential/accesstoken'].post);
    assert.ok(doc.components.schemas.ErrorBody, 'the error body is a named schema');
  });

  test('/docs serves Swagger UI', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/docs/' });
    assert.equal(response.statusCode, 200);
    assert.match(response.body, /swagger-ui/i);
  });

  test('/healthz, /readyz and /metrics', async () => {
    assert.deepEqual((await t.app.inject({ method: 'GET', url: '/healthz' })).json(), {
      status: 'ok',
    });
    // Without a resolver probe (the service runs one at start-up) the DNS state is unknown.
    assert.deepEqual((await t.app.inject({ method: 'GET', url: '/readyz' })).json(), {
      status: 'ready',
      dns: { trust_ad: 'auto', dane_available: null, resolvers: [] },
      warnings: [],
    });
    const metrics = await t.app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(metrics.statusCode, 200);
    assert.match(String(metrics.headers['content-type']), /text\/plain/);
    assert.match(
      metrics.body,
      /securemail_http_requests_total\{method="GET",route="\/readyz",status="200"\} 1/,
    );
    assert.match(metrics.body, /securemail_process_cpu_seconds_total/);
  });
});
