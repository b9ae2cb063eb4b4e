// An HTTPS server that serves MTA-STS policies for several test domains, chosen by the Host
// header. It can answer with a redirect or a wrong content type; an untrusted certificate
// is a second instance started with a self-signed certificate.
import https from 'node:https';
import type { AddressInfo } from 'node:net';

export interface PolicyResponse {
  body: string;
  contentType?: string;
  /** Answer 301 to this location instead of the policy. */
  redirectTo?: string;
  /** Answer with this status (and `body`) instead of 200. */
  status?: number;
}

export class HttpsPolicyServer {
  readonly port: number;
  /** Host names (mta-sts.<domain>) requested, in order. */
  readonly requests: string[] = [];
  readonly #server: https.Server;
  readonly #policies = new Map<string, PolicyResponse>();

  private constructor(server: https.Server) {
    this.#server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  static async start(tlsOptions: { key: string; cert: string }): Promise<HttpsPolicyServer> {
    const server = https.createServer(tlsOptions);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const instance = new HttpsPolicyServer(server);
    server.on('request', (request, response) => {
      const host = (request.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
      instance.requests.push(host);
      const policy = instance.#policies.get(host);
      if (!policy || request.url !== '/.well-known/mta-sts.txt') {
        response.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
        return;
      }
      if (policy.redirectTo) {
        response.writeHead(301, { location: policy.redirectTo }).end();
        return;
      }
      response
        .writeHead(policy.status ?? 200, { 'content-type': policy.contentType ?? 'text/plain' })
        .end(policy.body);
    });
    return instance;
  }

  /** Serves `response` at https://mta-sts.<domain>/.well-known/mta-sts.txt. */
  set(domain: string, response: PolicyResponse): void {
    this.#policies.set(`mta-sts.${domain}`, response);
  }

  remove(domain: string): void {
    this.#policies.delete(`mta-sts.${domain}`);
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** Policy text in the RFC 8461 format. */
export function policyText(
  mode: 'enforce' | 'testing' | 'none',
  mx: string[],
  maxAge = 86400,
): string {
  return [
    'version: STSv1',
    `mode: ${mode}`,
    ...mx.map((m) => `mx: ${m}`),
    `max_age: ${maxAge}`,
    '',
  ].join('\r\n');
}
