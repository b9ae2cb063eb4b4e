// A small hand-written SMTP server for the security tests. The `smtp-server` package is a
// good server, which is exactly the problem here: the tests need servers that misbehave
// (no STARTTLS, 454, bytes injected after 220, TLS 1.0 only, weak ciphers, 4xx replies).
// It records every command so tests can assert that no MAIL FROM was ever sent.
import net from 'node:net';
import tls from 'node:tls';

export interface TestSmtpTls {
  key: string;
  /** Leaf first, then any chain certificates, as PEM. */
  cert: string;
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
  ciphers?: string;
}

export interface TestSmtpOptions {
  /** Listen address, 127.0.0.1 by default (any 127/8 address works on Linux). */
  host?: string;
  /** 0 (default) for an ephemeral port. */
  port?: number;
  name?: string;
  /** Without it, STARTTLS is not offered. */
  tls?: TestSmtpTls;
  /** Reply to STARTTLS instead of 220 (e.g. `454 4.7.0 TLS not available`). */
  starttlsReply?: string;
  /** Raw bytes sent right after the `220` to STARTTLS, in the same write. */
  injectAfterStartTls?: string;
  /** Greeting line; default `220 <name> ESMTP test`. */
  greeting?: string;
  /** Offer SMTPUTF8 (RFC 6531) after STARTTLS, or (`before-tls`) only in the clear. */
  smtpUtf8?: boolean | 'before-tls';
  /** Replies used for successive MAIL FROM commands; then `250 2.1.0 Ok`. */
  mailReplies?: string[];
  rcptReplies?: string[];
  /** Take mailReplies/rcptReplies across all connections, not afresh on each one. */
  repliesAcrossConnections?: boolean;
  /**
   * Wait this long before answering the end of DATA. The message is recorded first, as a real
   * MTA has queued it before it answers, so a client that dies in this window leaves a message
   * the server has but the client never saw accepted (the crash tests' duplicate).
   */
  dataDelayMs?: number;
  /**
   * Offer the DSN extension (RFC 3461) in the EHLO reply: `always` before and after TLS,
   * `before-tls` only in the clear (capabilities seen before STARTTLS must not count).
   */
  dsn?: 'always' | 'before-tls';
}

export interface ReceivedMessage {
  from: string;
  to: string[];
  data: Buffer;
  overTls: boolean;
}

export class TestSmtpServer {
  readonly host: string;
  readonly port: number;
  /** Every command line received, with `tls:` prefixed once the connection is encrypted. */
  readonly commands: string[] = [];
  readonly messages: ReceivedMessage[] = [];
  connections = 0;
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  readonly #options: TestSmtpOptions;
  readonly #context: tls.SecureContext | undefined;

  private constructor(
    server: net.Server,
    options: TestSmtpOptions,
    context: tls.SecureContext | undefined,
  ) {
    this.#server = server;
    this.#options = options;
    this.#context = context;
    const address = server.address() as net.AddressInfo;
    this.host = address.address;
    this.port = address.port;
  }

  static async start(options: TestSmtpOptions = {}): Promise<TestSmtpServer> {
    const context = options.tls
      ? tls.createSecureContext({
          key: options.tls.key,
          cert: options.tls.cert,
          minVersion: options.tls.minVersion ?? 'TLSv1.2',
          maxVersion: options.tls.maxVersion ?? 'TLSv1.3',
          ...(options.tls.ciphers ? { ciphers: options.tls.ciphers } : {}),
        })
      : undefined;
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
    });
    const instance = new TestSmtpServer(server, options, context);
    server.on('connection', (socket) => instance.#serve(socket));
    return instance;
  }

  /** True when any MAIL FROM reached this server, in clear or over TLS. */
  get sawMailFrom(): boolean {
    return this.commands.some((c) => /^(tls: )?MAIL FROM/i.test(c));
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #serve(plain: net.Socket): void {
    this.connections++;
    this.#sockets.add(plain);
    plain.on('close', () => this.#sockets.delete(plain));
    plain.on('error', () => {});
    const options = this.#options;
    const name = options.name ?? 'mx.test';
    const shared = options.repliesAcrossConnections === true;
    const mailReplies = shared ? (options.mailReplies ?? []) : [...(options.mailReplies ?? [])];
    const rcptReplies = shared ? (options.rcptReplies ?? []) : [...(options.rcptReplies ?? [])];
    let socket: net.Socket = plain;
    let secure = false;
    let buffer = '';
    let inData = false;
    let dataLines: string[] = [];
    let envelope: { from: string; to: string[] } | undefined;

    const send = (text: string) => {
      if (!socket.destroyed) socket.write(`${text}\r\n`);
    };
    const onLine = (raw: string): void => {
      // Commands are UTF-8 (RFC 6531); message lines are kept as the bytes they were.
      const line = inData ? raw : Buffer.from(raw, 'latin1').toString('utf8');
      if (inData) {
        if (line === '.') {
          inData = false;
          this.messages.push({
            from: envelope?.from ?? '',
            to: envelope?.to ?? [],
            data: Buffer.from(dataLines.map((l) => `${l}\r\n`).join(''), 'latin1'),
            overTls: secure,
          });
          dataLines = [];
          envelope = undefined;
          const accepted = '250 2.0.0 Ok: queued as TESTQUEUE1';
          if (options.dataDelayMs) setTimeout(() => send(accepted), options.dataDelayMs);
          else send(accepted);
        } else dataLines.push(line.startsWith('.') ? line.slice(1) : line);
        return;
      }
      this.commands.push(secure ? `tls: ${line}` : line);
      const verb = line.split(' ')[0]!.toUpperCase();
      switch (verb) {
        case 'EHLO': {
          const lines = [name, 'PIPELINING', 'SIZE 10240000', '8BITMIME'];
          if (options.smtpUtf8 === (secure ? true : 'before-tls')) lines.push('SMTPUTF8');
          if (options.tls && !secure) lines.push('STARTTLS');
          if (secure) lines.push('REQUIRETLS');
          if (options.dsn === 'always' || (options.dsn === 'before-tls' && !secure))
            lines.push('DSN');
          for (const [i, l] of lines.entries())
            send(`250${i === lines.length - 1 ? ' ' : '-'}${l}`);
          return;
        }
        case 'HELO':
          send(`250 ${name}`);
          return;
        case 'STARTTLS':
          if (!options.tls || secure) {
            send('502 5.5.1 Not supported');
            return;
          }
          if (options.starttlsReply) {
            send(options.starttlsReply);
            return;
          }
          socket.write(`220 2.0.0 Ready to start TLS\r\n${options.injectAfterStartTls ?? ''}`);
          upgrade();
          return;
        case 'MAIL': {
          const reply = mailReplies.shift() ?? '250 2.1.0 Ok';
          if (reply.startsWith('250')) envelope = { from: pathOf(line.slice(10)), to: [] };
          send(reply);
          return;
        }
        case 'RCPT': {
          const reply = rcptReplies.shift() ?? '250 2.1.5 Ok';
          if (reply.startsWith('250')) envelope?.to.push(pathOf(line.slice(8)));
          send(reply);
          return;
        }
        case 'DATA':
          // RFC 2920 3.1: a server that offers PIPELINING must refuse DATA when no recipient
          // was accepted (the client may have sent DATA before it saw the RCPT replies).
          if (envelope === undefined || envelope.to.length === 0) {
            send('554 5.5.1 Error: no valid recipients');
            return;
          }
          inData = true;
          send('354 End data with <CR><LF>.<CR><LF>');
          return;
        case 'RSET':
          envelope = undefined;
          send('250 2.0.0 Ok');
          return;
        case 'NOOP':
          send('250 2.0.0 Ok');
          return;
        case 'QUIT':
          send('221 2.0.0 Bye');
          socket.end();
          return;
        default:
          send('500 5.5.2 Unknown command');
      }
    };
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      for (;;) {
        const end = buffer.indexOf('\n');
        if (end < 0) return;
        const line = buffer.slice(0, end).replace(/\r$/, '');
        buffer = buffer.slice(end + 1);
        onLine(line);
        if (socket !== current) return;
      }
    };
    let current: net.Socket = plain;
    const upgrade = () => {
      plain.off('data', onData);
      buffer = '';
      const secureSocket = new tls.TLSSocket(plain, {
        isServer: true,
        ...(this.#context ? { secureContext: this.#context } : {}),
      });
      secureSocket.on('error', () => plain.destroy());
      secureSocket.on('secure', () => {
        secure = true;
      });
      secureSocket.on('data', onData);
      socket = secureSocket;
      current = secureSocket;
    };
    plain.on('data', onData);
    send(options.greeting ?? `220 ${name} ESMTP test`);
  }
}

/** The address between < and > at the start of `text`; a quoted local part may hold >. */
function pathOf(text: string): string {
  let quoted = false;
  for (let i = 1; i < text.length; i++) {
    const char = text[i];
    if (quoted && char === '\\') i++;
    else if (char === '"') quoted = !quoted;
    else if (char === '>' && !quoted) return text.slice(1, i);
  }
  return text.slice(1);
}
