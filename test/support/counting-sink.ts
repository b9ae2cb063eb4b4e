// A TLS SMTP sink that keeps counts, not messages: how many times each recipient address was
// accepted (a final 250 to its content), so that fault tests and the chaos suite can tell
// lost from duplicated deliveries without holding gigabytes of bodies (the test SMTP server
// keeps every message's bytes). It offers PIPELINING, SIZE, 8BITMIME, DSN and, when asked,
// CHUNKING after STARTTLS, and can misbehave after a message's content: `drop` the
// connection before replying, or `stall` (never reply again). The SMTP dialogue is
// sink-session.ts, shared with the benchmark sink.

import net from 'node:net';
import tls from 'node:tls';
import { type SinkAction, serveSinkSession } from './sink-session.ts';

export type { SinkAction };

export interface CountingSinkOptions {
  host: string;
  /** 0: an ephemeral port. */
  port: number;
  name: string;
  key: string;
  cert: string;
  chunking?: boolean;
  /** Offer PIPELINING (default true). */
  pipelining?: boolean;
  /**
   * Stop reading once DATA is answered 354 (a server that stalls mid-content): the client's
   * writes then fill the socket buffers and wait for a drain that never comes.
   */
  deafAfterData?: boolean;
  /** What to do once a message's content is in; may be changed while the sink runs. */
  afterContent?: (recipients: readonly string[]) => SinkAction;
}

export class CountingSink {
  readonly host: string;
  readonly port: number;
  /** Accepted (answered 250) copies per recipient address. */
  readonly accepted = new Map<string, number>();
  /**
   * Contents received and then dropped or stalled on, per address: the server has them (a
   * real MTA queues a message before it answers), the client never heard so.
   */
  readonly unanswered = new Map<string, number>();
  /** Contents received, answered or not (dropped and stalled ones included). */
  contents = 0;
  connections = 0;
  afterContent: (recipients: readonly string[]) => SinkAction;
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();

  private constructor(server: net.Server, options: CountingSinkOptions, port: number) {
    this.#server = server;
    this.host = options.host;
    this.port = port;
    this.afterContent = options.afterContent ?? (() => 'reply');
  }

  static async start(options: CountingSinkOptions): Promise<CountingSink> {
    const context = tls.createSecureContext({ key: options.key, cert: options.cert });
    let sink: CountingSink | undefined;
    const server = net.createServer((socket) => {
      sink!.connections++;
      sink!.#sockets.add(socket);
      socket.on('close', () => sink!.#sockets.delete(socket));
      socket.on('error', () => {});
      serve(sink!, socket, context, options);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => resolve());
    });
    sink = new CountingSink(server, options, (server.address() as net.AddressInfo).port);
    return sink;
  }

  /** Copies the server holds per address, answered or not. */
  copies(address: string): number {
    return (this.accepted.get(address) ?? 0) + (this.unanswered.get(address) ?? 0);
  }

  /** Copies beyond one per address (answered or not). */
  get duplicates(): number {
    let extra = 0;
    for (const address of new Set([...this.accepted.keys(), ...this.unanswered.keys()])) {
      extra += Math.max(0, this.copies(address) - 1);
    }
    return extra;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

function serve(
  sink: CountingSink,
  link: net.Socket,
  context: tls.SecureContext,
  options: CountingSinkOptions,
): void {
  const capabilities = ['SIZE 104857600', '8BITMIME', 'DSN'];
  if (options.pipelining !== false) capabilities.push('PIPELINING');
  serveSinkSession(link, context, {
    name: options.name,
    capabilities,
    chunking: options.chunking ?? false,
    deafAfterData: options.deafAfterData,
    content(recipients) {
      sink.contents++;
      const action = sink.afterContent(recipients);
      const counts = action === 'reply' ? sink.accepted : sink.unanswered;
      for (const address of recipients) counts.set(address, (counts.get(address) ?? 0) + 1);
      return action;
    },
  });
}
