// A man in the middle between our client and a test SMTP server, for the two classic
// STARTTLS attacks: stripping STARTTLS from the EHLO reply (downgrade to clear text), and
// injecting bytes right after the server's `220` to STARTTLS (CVE-2011-0411). After the
// STARTTLS exchange it only relays bytes, so the TLS session itself is end to end.
import net from 'node:net';

export type MitmMode =
  | { kind: 'strip-starttls' }
  | { kind: 'inject-after-starttls'; bytes: string };

export class Mitm {
  readonly port: number;
  readonly host: string;
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();

  private constructor(server: net.Server) {
    this.#server = server;
    const address = server.address() as net.AddressInfo;
    this.host = address.address;
    this.port = address.port;
  }

  static async start(upstream: { host: string; port: number }, mode: MitmMode): Promise<Mitm> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const mitm = new Mitm(server);
    server.on('connection', (client) => mitm.#relay(client, upstream, mode));
    return mitm;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #relay(client: net.Socket, upstream: { host: string; port: number }, mode: MitmMode): void {
    const server = net.connect(upstream);
    for (const socket of [client, server]) {
      this.#sockets.add(socket);
      socket.on('error', () => {
        client.destroy();
        server.destroy();
      });
      socket.on('close', () => {
        this.#sockets.delete(socket);
        client.destroy();
        server.destroy();
      });
    }
    let raw = false;
    let clientAskedStartTls = false;
    let pendingReply: string[] = [];
    let serverBuffer = '';

    client.on('data', (chunk: Buffer) => {
      if (!raw && /^STARTTLS\r?\n/im.test(chunk.toString('latin1'))) clientAskedStartTls = true;
      server.write(chunk);
    });
    server.on('data', (chunk: Buffer) => {
      if (raw) {
        client.write(chunk);
        return;
      }
      serverBuffer += chunk.toString('latin1');
      for (;;) {
        const end = serverBuffer.indexOf('\n');
        if (end < 0) return;
        const line = serverBuffer.slice(0, end + 1);
        serverBuffer = serverBuffer.slice(end + 1);
        pendingReply.push(line);
        if (line[3] === '-') continue;
        const reply = pendingReply;
        pendingReply = [];
        if (
          clientAskedStartTls &&
          reply[0]?.startsWith('220') &&
          mode.kind === 'inject-after-starttls'
        ) {
          client.write(reply.join('') + mode.bytes);
          raw = true;
          if (serverBuffer) client.write(serverBuffer);
          return;
        }
        client.write(mode.kind === 'strip-starttls' ? stripStartTls(reply) : reply.join(''));
      }
    });
  }
}

function stripStartTls(reply: string[]): string {
  const kept = reply.filter((line) => !/^250[ -]STARTTLS\b/i.test(line));
  return kept
    .map((line, i) => `${line.slice(0, 3)}${i === kept.length - 1 ? ' ' : '-'}${line.slice(4)}`)
    .join('');
}
