// A TCP proxy in front of the test PostgreSQL that a test can take down and bring back: the
// database "goes away" for one store (its connections are cut, new ones are refused) while
// the shared server on 5432 keeps running for everyone else. Never stop the real server.

import net from 'node:net';

export class TcpProxy {
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  #up = true;
  readonly port: number;

  private constructor(server: net.Server, port: number) {
    this.#server = server;
    this.port = port;
  }

  /** Listens on 127.0.0.1 (port 0) and forwards to `target`. */
  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    let proxy: TcpProxy | undefined;
    const server = net.createServer((client) => {
      if (proxy === undefined || !proxy.#up) {
        client.destroy();
        return;
      }
      const upstream = net.connect(target.port, target.host);
      for (const s of [client, upstream]) {
        proxy.#sockets.add(s);
        const sockets = proxy.#sockets;
        s.on('close', () => sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new TcpProxy(server, (server.address() as net.AddressInfo).port);
    return proxy;
  }

  /** `url` with its host and port replaced by the proxy's. */
  url(url: string): string {
    const u = new URL(url);
    u.hostname = '127.0.0.1';
    u.port = String(this.port);
    return u.toString();
  }

  /** The database goes away: every connection is cut and new ones are closed at once. */
  down(): void {
    this.#up = false;
    for (const s of this.#sockets) s.destroy();
  }

  /** The database is back. */
  up(): void {
    this.#up = true;
  }

  async close(): Promise<void> {
    this.down();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** A port nothing listens on (bound, then closed). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
