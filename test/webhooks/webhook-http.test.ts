// The webhook POST checks the receiver's certificate name with the mail path's rule: a
// partial wildcard (`h*.example.test`), which Node's default check accepts, names nothing.

import assert from 'node:assert/strict';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { postWebhook } from '../../src/notify/webhook-http.ts';
import { makeCa, makeLeaf, type TestCert } from '../support/certs.ts';

const HOST = 'hooks.example.test';

async function receiver(names: string[], ca: TestCert): Promise<https.Server> {
  const leaf = await makeLeaf({ names, issuer: ca });
  const server = https.createServer({ key: leaf.keyPem, cert: leaf.pem }, (_req, res) => {
    res.writeHead(204).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return server;
}

function target(server: https.Server) {
  const port = (server.address() as AddressInfo).port;
  return {
    url: new URL(`https://${HOST}:${port}/hook`),
    host: HOST,
    port,
    address: '127.0.0.1',
    family: 4 as const,
  };
}

describe('webhook certificate names', () => {
  let ca: TestCert;
  const servers: https.Server[] = [];
  before(async () => {
    ca = await makeCa('Webhook Name CA');
  });
  after(() => {
    for (const s of servers) s.close();
  });

  it('accepts a certificate that names the host, or a whole-label wildcard for it', async () => {
    for (const names of [[HOST], ['*.example.test']]) {
      const server = await receiver(names, ca);
      servers.push(server);
      const result = await postWebhook(target(server), '{}', {}, { timeoutMs: 5000, ca: ca.pem });
      assert.deepEqual(result, { ok: true, status: 204 }, names.join(','));
    }
  });

  it('refuses a partial wildcard that Node alone would accept', async () => {
    const server = await receiver(['h*.example.test'], ca);
    servers.push(server);
    const result = await postWebhook(target(server), '{}', {}, { timeoutMs: 5000, ca: ca.pem });
    assert.equal(result.ok, false);
    assert.match(!result.ok ? result.error : '', /does not name hooks\.example\.test/);
  });
});
