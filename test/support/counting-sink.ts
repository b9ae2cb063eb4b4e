// A TLS SMTP sink that keeps counts, not messages: how many times each recipient address was
// accepted (a final 250 to its content), so that fault tests and the chaos suite can tell
// lost from duplicated deliveries without holding gigabytes of bodies (the test SMTP server
// keeps every message's bytes). It offers PIPELINING, SIZE, 8BITMIME, DSN and, when asked,
// CHUNKING after STARTTLS, and can misbehave after a message's content: `drop` the
// connection before replying, or `stall` (never reply again). Framing is smtp-input.ts.

import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { SmtpInput, type SmtpInputHandler } from './smtp-input.ts';

export type SinkAction = 'reply' | 'drop' | 'stall';

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
  const chunking = options.chunking ?? false;
  const caps = (secure: boolean) => {
    const list = [options.name, 'SIZE 104857600', '8BITMIME', 'DSN'];
    if (options.pipelining !== false) list.push('PIPELINING');
    if (secure && chunking) list.push('CHUNKING');
    if (!secure) list.push('STARTTLS');
    return list.map((c, i) => `250${i === list.length - 1 ? ' ' : '-'}${c}\r\n`).join('');
  };
  let stream: Duplex = link;
  let secure = false;
  let rcpts: string[] | undefined;
  let out = '';
  let stalled = false;
  const flush = () => {
    if (out !== '' && !stream.destroyed && !stalled) stream.write(out);
    out = '';
  };
  const content = () => {
    if (stalled) return;
    sink.contents++;
    const to = rcpts ?? [];
    rcpts = undefined;
    const action = sink.afterContent(to);
    if (action !== 'reply') {
      for (const a of to) sink.unanswered.set(a, (sink.unanswered.get(a) ?? 0) + 1);
    }
    if (action === 'drop') {
      flush();
      stream.destroy();
      link.destroy();
      return;
    }
    if (action === 'stall') {
      flush();
      stalled = true;
      return;
    }
    for (const address of to) sink.accepted.set(address, (sink.accepted.get(address) ?? 0) + 1);
    out += `250 2.0.0 Ok: queued as C${sink.contents}\r\n`;
  };
  const handler: SmtpInputHandler = {
    command(line) {
      if (stalled) return;
      const verb = line.slice(0, 4).toUpperCase();
      switch (verb) {
        case 'EHLO':
          out += caps(secure);
          return;
        case 'STAR': {
          out += '220 2.0.0 Ready to start TLS\r\n';
          flush();
          input.stop();
          link.off('data', onData);
          input = new SmtpInput(handler, { chunking, keepContent: false });
          const secureSocket = new tls.TLSSocket(link, { isServer: true, secureContext: context });
          secureSocket.on('error', () => link.destroy());
          secureSocket.on('data', onData);
          secure = true;
          stream = secureSocket;
          return;
        }
        case 'MAIL':
          rcpts = [];
          out += '250 2.1.0 Ok\r\n';
          return;
        case 'RCPT': {
          if (rcpts === undefined) {
            out += '503 5.5.1 need MAIL\r\n';
            return;
          }
          const match = /<([^>]*)>/.exec(line);
          rcpts.push((match?.[1] ?? '').toLowerCase());
          out += '250 2.1.5 Ok\r\n';
          return;
        }
        case 'DATA':
          if (rcpts === undefined || rcpts.length === 0) {
            out += '554 5.5.1 no valid recipients\r\n';
            return;
          }
          input.startData();
          out += '354 go ahead\r\n';
          if (options.deafAfterData) {
            flush();
            stalled = true;
            // The TLS socket reads the connection itself: it is the one to pause.
            stream.pause();
          }
          return;
        case 'RSET':
          rcpts = undefined;
          out += '250 2.0.0 Ok\r\n';
          return;
        case 'NOOP':
          out += '250 2.0.0 Ok\r\n';
          return;
        case 'QUIT':
          out += '221 2.0.0 Bye\r\n';
          flush();
          stream.end();
          return;
        default:
          out += '500 5.5.2 unknown command\r\n';
      }
    },
    data() {
      content();
    },
    chunk(_line, size, last) {
      if (rcpts === undefined || rcpts.length === 0) {
        out += '554 5.5.1 no valid recipients\r\n';
        return;
      }
      if (last) content();
      else out += `250 2.0.0 ${size} octets\r\n`;
    },
  };
  let input = new SmtpInput(handler, { chunking, keepContent: false });
  const onData = (chunk: Buffer) => {
    input.push(chunk);
    flush();
  };
  link.on('data', onData);
  link.write(`220 ${options.name} ESMTP counting sink\r\n`);
}
