// SECUREMAIL_METRICS_PORT: a listener that serves only `GET /metrics`, for the processes of
// a multi-process deployment that have no API (`serve --roles worker`, `--roles mx`). Plain
// node:http: no routes, no authentication, nothing else to expose; bind it where only the
// Prometheus server reaches it (the default is 127.0.0.1).

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface RunningMetricsServer {
  /** The port it listens on (the configured one, or the one chosen for port 0 in tests). */
  port: number;
  close(): Promise<void>;
}

export async function startMetricsServer(
  registry: Registry,
  listen: { host: string; port: number },
): Promise<RunningMetricsServer> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('only /metrics here\n');
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    registry.metrics().then(
      (text) => {
        response.writeHead(200, { 'content-type': registry.contentType });
        response.end(request.method === 'HEAD' ? undefined : text);
      },
      () => {
        response.writeHead(500, { 'content-type': 'text/plain' }).end('metrics failed\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
