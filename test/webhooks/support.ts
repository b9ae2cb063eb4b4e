// An API app with the suppression and webhook routes in the authenticated scope (as app.ts
// will have them), and an HTTPS receiver for webhook deliveries with a test CA.

import { randomBytes } from 'node:crypto';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app.ts';
import { createClient } from '../../src/clients/clients-service.ts';
import { loadConfig } from '../../src/config.ts';
import type { WebhookConfig } from '../../src/notify/settings.ts';
import type { HostLookup } from '../../src/notify/webhook-target.ts';
import type { Store } from '../../src/store/database.ts';
import { requestToken } from '../support/app.ts';
import { makeCa, makeLeaf, type TestCert } from '../support/certs.ts';
import { TEST_EPOCH } from '../support/test-clock.ts';

export interface FeedbackApp {
  app: FastifyInstance;
  clock: { now: number };
  masterKey: Buffer;
  webhookConfig: WebhookConfig;
  tenant(): Promise<TestTenant>;
  close(): Promise<void>;
}

export interface TestTenant {
  clientId: string;
  auth: { authorization: string };
  /** A new token (after the clock moved past the old one's lifetime). */
  refresh(): Promise<void>;
}

export async function startFeedbackApp(
  store: Store,
  options: { webhookConfig?: WebhookConfig; lookup?: HostLookup } = {},
): Promise<FeedbackApp> {
  const clock = { now: TEST_EPOCH };
  const now = () => clock.now;
  const masterKey = randomBytes(32);
  const env = {
    SECUREMAIL_DATA_DIR: '/nonexistent-test-dir',
    SECUREMAIL_WEBHOOK_ALLOW_PRIVATE: 'true',
  };
  const config =
    options.webhookConfig === undefined
      ? loadConfig(env)
      : { ...loadConfig(env), webhooks: options.webhookConfig };
  const webhookConfig = config.webhooks;
  const app = await buildApp({
    config,
    store,
    logger: false,
    now,
    masterKey,
    ...(options.lookup ? { webhookLookup: options.lookup } : {}),
  });
  await app.ready();
  return {
    app,
    clock,
    masterKey,
    webhookConfig,
    async tenant() {
      const { clientId, clientSecret } = await createClient(store, { name: 'tenant' }, clock.now);
      const tenant: TestTenant = {
        clientId,
        auth: { authorization: '' },
        async refresh() {
          tenant.auth.authorization = `Bearer ${await requestToken(app, clientId, clientSecret)}`;
        },
      };
      await tenant.refresh();
      return tenant;
    },
    close: () => app.close(),
  };
}

export interface ReceivedDelivery {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** An HTTPS server that records deliveries and answers with the next queued status (200 when none). */
export class WebhookReceiver {
  readonly deliveries: ReceivedDelivery[] = [];
  readonly statuses: number[] = [];
  /** Answer every request with this status once the queue is empty. */
  fallbackStatus = 200;
  /** Decides the status from the body first, when set (deliveries run concurrently, so a queue cannot pick one). */
  statusFor: ((body: string) => number | undefined) | undefined;
  readonly ca: TestCert;
  readonly port: number;
  readonly #server: https.Server;

  private constructor(server: https.Server, ca: TestCert) {
    this.#server = server;
    this.ca = ca;
    this.port = (server.address() as AddressInfo).port;
  }

  static async start(hostname: string): Promise<WebhookReceiver> {
    const ca = await makeCa('Webhook Test CA');
    const leaf = await makeLeaf({ names: [hostname], issuer: ca });
    const server = https.createServer({ key: leaf.keyPem, cert: leaf.pem });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const receiver = new WebhookReceiver(server, ca);
    server.on('request', (request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (c: Buffer) => chunks.push(c));
      request.on('end', () => {
        receiver.deliveries.push({
          path: request.url ?? '',
          headers: request.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        });
        const body = receiver.deliveries.at(-1)!.body;
        const chosen = receiver.statusFor?.(body);
        response
          .writeHead(chosen ?? receiver.statuses.shift() ?? receiver.fallbackStatus)
          .end('ok');
      });
    });
    return receiver;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
