// A small hand-written SMTP server for the security and delivery tests. The `smtp-server`
// package is a good server, which is exactly the problem here: the tests need servers that
// misbehave (no STARTTLS, 454, bytes injected after 220, TLS 1.0 only, weak ciphers, 4xx
// replies, a connection dropped after the message, a server that stalls), and it has no
// CHUNKING (RFC 3030 BDAT), which Postfix 3.4+ and Exchange offer. It records every command
// so tests can assert that no MAIL FROM was ever sent, and every message with its exact bytes.
// Framing (commands, DATA, BDAT chunks) is smtp-input.ts, shared with the benchmark sink.
import net from 'node:net';
import tls from 'node:tls';
import { dotUnstuff, SmtpInput } from './smtp-input.ts';

export interface TestSmtpTls {
  key: string;
  /** Leaf first, then any chain certificates, as PEM. */
  cert: string;
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
  ciphers?: string;
}

/** What the server does once a message's content is complete, before it replies. */
export type ContentAction = 'reply' | 'drop' | 'stall';

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
  /** Offer PIPELINING (RFC 2920); default true. */
  pipelining?: boolean;
  /**
   * Offer CHUNKING (RFC 3030) and take `BDAT n [LAST]`: exactly n octets follow the command,
   * no dot-stuffing, one reply per chunk once its octets are in. Default false.
   */
  chunking?: boolean;
  /** Replies used for successive MAIL FROM commands; then `250 2.1.0 Ok`. */
  mailReplies?: string[];
  /**
   * The reply to RCPT TO for this address, e.g. to refuse one recipient of a pipelined
   * flight; `undefined` falls back to rcptReplies and then `250 2.1.5 Ok`.
   */
  rcptReply?: (address: string) => string | undefined;
  rcptReplies?: string[];
  /**
   * Replies used for successive message contents (after the dot of DATA, or to BDAT ... LAST);
   * then `250 2.0.0 Ok: queued as TESTQUEUE1`. A message answered other than 2xx is still
   * recorded, with the reply it got.
   */
  contentReplies?: string[];
  /** Take mailReplies/rcptReplies/contentReplies across all connections, not afresh on each one. */
  repliesAcrossConnections?: boolean;
  /**
   * Wait this long before answering a message's content. The message is recorded first, as a
   * real MTA has queued it before it answers, so a client that dies in this window leaves a
   * message the server has but the client never saw accepted (the crash tests' duplicate).
   * Replies stay in order: those to commands pipelined behind the content wait with it.
   */
  dataDelayMs?: number;
  /**
   * Once a message's content is complete, before replying: `reply` (default), `drop` the
   * connection (the replies to earlier commands of the same flight go out first), or `stall`:
   * never reply again on this connection and keep it open. The message is recorded in every
   * case (the server has it; whether the client counts it delivered is what a test checks).
   * A function decides per message; `index` counts this server's messages from 0.
   */
  afterContent?: ContentAction | ((message: ReceivedMessage, index: number) => ContentAction);
  /**
   * Offer the DSN extension (RFC 3461) in the EHLO reply: `always` before and after TLS,
   * `before-tls` only in the clear (capabilities seen before STARTTLS must not count).
   */
  dsn?: 'always' | 'before-tls';
}

export interface ReceivedMessage {
  from: string;
  /** The recipients the server accepted for this message. */
  to: string[];
  /** The content as the client meant it: DATA unstuffed, BDAT chunks joined as sent. */
  data: Buffer;
  overTls: boolean;
  via: 'data' | 'bdat';
  /** The size of each BDAT chunk in order (empty for DATA); `BDAT 0 LAST` shows as 0. */
  chunks: number[];
  /** The reply to the content; undefined when the server dropped the connection or stalled. */
  reply: string | undefined;
}

interface Transaction {
  from: string;
  to: string[];
  /** BDAT chunks so far; DATA may not follow any (RFC 3030 section 2). */
  chunks: Buffer[];
  /** A chunk was refused: the rest of the transaction's chunks are refused too, until RSET. */
  failed: string | undefined;
}

export class TestSmtpServer {
  readonly host: string;
  readonly port: number;
  /** Every command line received, with `tls:` prefixed once the connection is encrypted. */
  readonly commands: string[] = [];
  /**
   * The commands that arrived in one read, per read (with the `tls:` prefix as above): a
   * client that pipelines sends MAIL, RCPT and DATA/BDAT as one flight; one that waits for
   * each reply never has two commands in one.
   */
  readonly flights: string[][] = [];
  readonly messages: ReceivedMessage[] = [];
  /** Connections accepted so far. */
  connections = 0;
  /** Connections open now, and the most that were open at once. */
  openConnections = 0;
  peakConnections = 0;
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

  /** The SNI name of each TLS handshake, in order (`''` when the client sent none). */
  readonly servernames: string[] = [];

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
    this.openConnections++;
    this.peakConnections = Math.max(this.peakConnections, this.openConnections);
    this.#sockets.add(plain);
    plain.on('close', () => {
      this.openConnections--;
      this.#sockets.delete(plain);
    });
    plain.on('error', () => {});
    const options = this.#options;
    const name = options.name ?? 'mx.test';
    const shared = options.repliesAcrossConnections === true;
    const queue = (replies: string[] | undefined) =>
      shared ? (replies ?? []) : [...(replies ?? [])];
    const mailReplies = queue(options.mailReplies);
    const rcptReplies = queue(options.rcptReplies);
    const contentReplies = queue(options.contentReplies);
    let socket: net.Socket = plain;
    let secure = false;
    let silent = false;
    let transaction: Transaction | undefined;
    let flight: string[] = [];
    // Replies produced while one read is handled leave in one write, as a pipelining server
    // sends them (and as Postfix does: it flushes when its input buffer is empty).
    let out = '';
    // With dataDelayMs: nothing is written before this time (replies stay in order).
    let holdUntil = 0;
    let heldFlush: NodeJS.Timeout | undefined;

    const send = (text: string) => {
      if (!silent) out += `${text}\r\n`;
    };
    const flush = (now = false) => {
      const wait = holdUntil - Date.now();
      if (wait > 0 && !now) {
        if (heldFlush === undefined) {
          heldFlush = setTimeout(() => {
            heldFlush = undefined;
            flush();
          }, wait);
        }
        return;
      }
      if (out !== '' && !socket.destroyed) socket.write(out);
      out = '';
    };
    const record = (line: string) => {
      const entry = secure ? `tls: ${line}` : line;
      this.commands.push(entry);
      flight.push(entry);
    };

    /** The message is complete: record it, then reply, drop or stall. */
    const complete = (via: 'data' | 'bdat', data: Buffer, chunks: number[]) => {
      const t = transaction!;
      transaction = undefined;
      const message: ReceivedMessage = {
        from: t.from,
        to: t.to,
        data,
        overTls: secure,
        via,
        chunks,
        reply: undefined,
      };
      const index = this.messages.length;
      this.messages.push(message);
      const rule = options.afterContent ?? 'reply';
      const action = typeof rule === 'function' ? rule(message, index) : rule;
      if (action === 'drop') {
        // Closed (FIN, and close_notify over TLS) once the earlier replies are out: the
        // client sees the connection end where it waits for the reply to the content.
        input.stop();
        flush(true);
        silent = true;
        socket.end();
        return;
      }
      if (action === 'stall') {
        input.stop();
        flush(true);
        silent = true;
        return;
      }
      const reply = contentReplies.shift() ?? '250 2.0.0 Ok: queued as TESTQUEUE1';
      message.reply = reply;
      if (options.dataDelayMs) holdUntil = Math.max(holdUntil, Date.now()) + options.dataDelayMs;
      send(reply);
    };

    const onCommand = (raw: string): void => {
      // Commands are UTF-8 (RFC 6531).
      const line = Buffer.from(raw, 'latin1').toString('utf8');
      record(line);
      const verb = line.split(' ')[0]!.toUpperCase();
      switch (verb) {
        case 'EHLO': {
          const lines = [name];
          if (options.pipelining !== false) lines.push('PIPELINING');
          lines.push('SIZE 10240000', '8BITMIME');
          if (options.chunking) lines.push('CHUNKING');
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
          send('220 2.0.0 Ready to start TLS');
          out += options.injectAfterStartTls ?? '';
          flush();
          upgrade();
          return;
        case 'MAIL': {
          const reply = mailReplies.shift() ?? '250 2.1.0 Ok';
          transaction = reply.startsWith('250')
            ? { from: pathOf(line.slice(10)), to: [], chunks: [], failed: undefined }
            : undefined;
          send(reply);
          return;
        }
        case 'RCPT': {
          const address = pathOf(line.slice(8));
          const reply = options.rcptReply?.(address) ?? rcptReplies.shift() ?? '250 2.1.5 Ok';
          if (reply.startsWith('250')) transaction?.to.push(address);
          send(reply);
          return;
        }
        case 'DATA':
          if (transaction !== undefined && transaction.chunks.length > 0) {
            send('503 5.5.1 Error: DATA after BDAT in one transaction (RFC 3030)');
            return;
          }
          // RFC 2920 3.1: a server that offers PIPELINING must refuse DATA when no recipient
          // was accepted (the client may have sent DATA before it saw the RCPT replies).
          if (transaction === undefined || transaction.to.length === 0) {
            send('554 5.5.1 Error: no valid recipients');
            return;
          }
          input.startData();
          send('354 End data with <CR><LF>.<CR><LF>');
          return;
        case 'RSET':
          transaction = undefined;
          send('250 2.0.0 Ok');
          return;
        case 'NOOP':
          send('250 2.0.0 Ok');
          return;
        case 'QUIT':
          send('221 2.0.0 Bye');
          flush();
          socket.end();
          return;
        case 'BDAT':
          // Only here when CHUNKING is off (then BDAT is unknown) or the line is malformed.
          send(
            options.chunking ? '501 5.5.4 Syntax: BDAT size [LAST]' : '500 5.5.2 Unknown command',
          );
          return;
        default:
          send('500 5.5.2 Unknown command');
      }
    };

    const onChunk = (line: string, size: number, last: boolean, content: Buffer): void => {
      record(line);
      // The octets were read whatever the reply (RFC 3030: a refused chunk is discarded).
      if (transaction === undefined) {
        send('503 5.5.1 Error: need MAIL command');
        return;
      }
      if (transaction.to.length === 0)
        transaction.failed ??= '554 5.5.1 Error: no valid recipients';
      if (transaction.failed !== undefined) {
        send(transaction.failed);
        if (last) transaction = undefined;
        return;
      }
      // Kept as its own copy: the read it came in may be reused.
      transaction.chunks.push(Buffer.from(content));
      if (!last) {
        send(`250 2.0.0 Ok: ${size} octets received`);
        return;
      }
      const chunks = transaction.chunks;
      complete(
        'bdat',
        Buffer.concat(chunks),
        chunks.map((c) => c.length),
      );
    };

    const handler = {
      command: onCommand,
      data: (content: Buffer) => complete('data', Buffer.from(dotUnstuff(content)), []),
      chunk: onChunk,
    };
    let input = new SmtpInput(handler, { chunking: options.chunking === true });
    const onData = (bytes: Buffer) => {
      flight = [];
      input.push(bytes);
      if (flight.length > 0) this.flights.push(flight);
      flush();
    };
    const upgrade = () => {
      input.stop();
      plain.off('data', onData);
      input = new SmtpInput(handler, { chunking: options.chunking === true });
      const secureSocket = new tls.TLSSocket(plain, {
        isServer: true,
        ...(this.#context ? { secureContext: this.#context } : {}),
      });
      secureSocket.on('error', () => plain.destroy());
      secureSocket.on('secure', () => {
        secure = true;
        // The SNI the client sent (false when none).
        this.servernames.push(
          (secureSocket as unknown as { servername?: string | false }).servername || '',
        );
      });
      secureSocket.on('data', onData);
      socket = secureSocket;
    };
    plain.on('data', onData);
    plain.write(`${options.greeting ?? `220 ${name} ESMTP test`}\r\n`);
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
