// Our own SMTP client session. We do not use a library transport because the policy needs
// control of every step around STARTTLS: what is discarded after `220`, which capabilities
// are forgotten, which TLS options are used, and that nothing is sent before the server is
// verified. One instance is one TCP connection to one MX address.
//
// Transactions (send()) may overlap: at internet latency a round trip costs more than
// everything else a message needs, so the client writes what RFC 2920 (PIPELINING) and
// RFC 3030 (CHUNKING) let it write without waiting, and matches the replies in order.
// Every reply is awaited in the order its command was written (a FIFO of reply slots), so
// each transaction reads exactly its own replies; a message counts as sent only on the
// final 250 to its own content.
import type net from 'node:net';
import type { Readable } from 'node:stream';
import type tls from 'node:tls';
import type { AuthMethod } from '../vocabulary/policy-levels.ts';
import { chunkContentShared, DotStuffer, dotStuffShared } from './dot-stuffing.ts';
import { checkPath, isAscii, xtext } from './smtp-paths.ts';
import {
  buildReply,
  formatReply,
  MAX_REPLY_LINE_OCTETS,
  MAX_REPLY_LINES,
  parseCapabilities,
  parseReplyLine,
  type ReplyLine,
  SmtpError,
  type SmtpReply,
  type SmtpStep,
} from './smtp-reply.ts';
import { handshake, openSocket } from './smtp-socket.ts';

export { isSendablePath } from './smtp-paths.ts';

export interface TranscriptEntry {
  at: string;
  /** `>` sent by us, `<` received, `!` an observation (e.g. injected bytes). */
  dir: '>' | '<' | '!';
  text: string;
}

export interface SmtpConnectOptions {
  /** IP address to connect to. */
  address: string;
  port: number;
  /** MX host name, used for SNI and in messages. */
  host: string;
  ehloName: string;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  /**
   * Time for the final reply to a message's content (RFC 5321 4.5.3.2: 10 minutes, as the
   * server may check the whole message before it answers); commandTimeoutMs when absent.
   */
  dataTimeoutMs?: number;
  now: () => Date;
}

export interface MailOptions {
  size?: number;
  /** RFC 6531: the envelope has a non-ASCII address; only when the server offers SMTPUTF8. */
  smtpUtf8?: boolean;
  /** RFC 8689: only allowed when the server advertises REQUIRETLS. */
  requireTls?: boolean;
  body?: '7BIT' | '8BITMIME';
  envelopeId?: string;
  ret?: 'FULL' | 'HDRS';
}

export interface RcptOptions {
  notify?: Array<'SUCCESS' | 'FAILURE' | 'DELAY'> | 'NEVER';
  originalRecipient?: string;
}

/**
 * How a transaction goes out, from what the server offered after TLS:
 * - `bdat-pipelined` (CHUNKING and PIPELINING, Postfix 3.4+): MAIL, RCPT and `BDAT n LAST`
 *   with the content in one flight, one round trip per message; the next transactions may
 *   follow in the same flight, each opened with RSET.
 * - `data-pipelined` (PIPELINING): MAIL, RCPT and DATA in one flight; after the 354 the
 *   content, with the next transaction's MAIL, RCPT and DATA behind it (RFC 2920 3.1: the
 *   content may open a group, DATA must end one): one round trip per message once started.
 * - `bdat` (CHUNKING alone) and `data`: one command, one wait.
 */
export type TransactionMode = 'bdat-pipelined' | 'data-pipelined' | 'bdat' | 'data';

interface Slot {
  step: SmtpStep;
  resolve: (reply: SmtpReply) => void;
  reject: (error: SmtpError) => void;
}

/** A flight above this size is written as separate buffers (corked) instead of one copy. */
const COPY_FLIGHT_MAX = 64 * 1024;

/** The most bytes handed to the socket in one write (see #pump). */
const WRITE_SLICE = 256 * 1024;

const noop = () => {};

export class SmtpClient {
  readonly options: SmtpConnectOptions;
  readonly transcript: TranscriptEntry[] = [];
  /**
   * Whether lines are added to `transcript`. The handshake's transcript is evidence; a
   * pooled session's later commands are not kept, so the worker turns this off then
   * (a timestamp and a formatted line per command and reply, about 10 us per message).
   */
  recording = true;
  /** Bytes the server sent after its `220` to STARTTLS, before the handshake (discarded). */
  injectedAfterStartTls: Buffer | undefined;
  /**
   * The latest TLS session (ticket) the server gave this connection, for resuming a later
   * connection (src/security/tls-resumption.ts decides when that is allowed).
   */
  tlsSession: Buffer | undefined;
  #socket: net.Socket;
  #tlsSocket: tls.TLSSocket | undefined;
  #capabilities = new Map<string, string>();
  #verified = false;
  #method: AuthMethod | undefined;
  #buffer: Buffer = Buffer.alloc(0);
  #lines: ReplyLine[] = [];
  /** Replies that arrived when none was awaited (the greeting, or an unsolicited one). */
  #replies: SmtpReply[] = [];
  /** The replies awaited, in the order their commands were written. */
  #slots: Slot[] = [];
  #timer: NodeJS.Timeout | undefined;
  #failure: SmtpError | undefined;
  /** Bytes of this event-loop turn, written together (one TLS record when they fit). */
  #flight: Buffer[] = [];
  #flightBytes = 0;
  #flushScheduled = false;
  /** Bytes handed over for writing, not yet taken by the socket (it wanted a drain). */
  #out: Buffer[] = [];
  #awaitingDrain = false;
  /** #write() calls waiting for the queue to be taken. */
  #written: Array<{ resolve: () => void; reject: (error: SmtpError) => void }> = [];
  /** Resolved when the next transaction may write its envelope. */
  #turn: Promise<void> = Promise.resolve();
  /** Transactions whose MAIL was written and whose end was not read yet. */
  #open = 0;
  /** The last transaction ended without its 250: the server may still hold it, RSET first. */
  #dirty = false;
  // Set while waiting for the reply to STARTTLS: once that reply is complete, everything
  // after it goes to `#held`, kept raw as evidence and never parsed.
  #holdAfterReply = false;
  #held: Buffer[] | undefined;
  #step: SmtpStep = 'connect';
  readonly #onData = (chunk: Buffer) => this.#receive(chunk);
  readonly #onError = (error: NodeJS.ErrnoException) =>
    this.#fail(new SmtpError(this.#step, 'network', error.message, { causeCode: error.code }));
  readonly #onClose = () =>
    this.#fail(new SmtpError(this.#step, 'closed', 'connection closed by the server'));
  readonly #flushSoon = () => this.#flush();

  private constructor(socket: net.Socket, options: SmtpConnectOptions) {
    this.#socket = socket;
    this.options = options;
  }

  /** Opens the TCP connection and reads the greeting (which must be 220). */
  static async connect(options: SmtpConnectOptions): Promise<SmtpClient> {
    const socket = await openSocket(options);
    const client = new SmtpClient(socket, options);
    client.#attach(socket);
    client.#note(`connected to ${options.address}:${options.port} (${options.host})`);
    client.#step = 'greeting';
    try {
      await client.#expect('greeting', [220]);
    } catch (error) {
      client.close();
      throw error;
    }
    return client;
  }

  get capabilities(): ReadonlyMap<string, string> {
    return this.#capabilities;
  }

  get tlsSocket(): tls.TLSSocket | undefined {
    return this.#tlsSocket;
  }

  get verified(): boolean {
    return this.#verified;
  }

  /** False once the connection failed or closed: nothing more can be sent on it. */
  get open(): boolean {
    return this.#failure === undefined;
  }

  /** How transactions go out on this session (see TransactionMode). */
  get transactionMode(): TransactionMode {
    const pipelining = this.#capabilities.has('PIPELINING');
    if (this.#capabilities.has('CHUNKING')) return pipelining ? 'bdat-pipelined' : 'bdat';
    return pipelining ? 'data-pipelined' : 'data';
  }

  /**
   * How many send() calls may usefully be in flight at once, at most `wanted`: with
   * CHUNKING and PIPELINING each one more message per round trip; with PIPELINING alone two
   * (the next envelope rides with this content); otherwise one at a time.
   */
  inFlightLimit(wanted: number): number {
    const mode = this.transactionMode;
    switch (mode) {
      case 'bdat-pipelined':
        return Math.max(1, wanted);
      case 'data-pipelined':
        return Math.min(2, Math.max(1, wanted));
      case 'bdat':
      case 'data':
        return 1;
      default: {
        const never: never = mode;
        throw new Error(`unknown transaction mode ${String(never)}`);
      }
    }
  }

  /** EHLO; replaces the known capabilities with the ones in the reply. */
  async ehlo(): Promise<SmtpReply> {
    const step: SmtpStep = this.#tlsSocket ? 'ehlo-tls' : 'ehlo';
    const reply = await this.#command(step, `EHLO ${this.options.ehloName}`, [250]);
    this.#capabilities = parseCapabilities(reply);
    return reply;
  }

  /**
   * STARTTLS and the handshake. Bytes after the `220` are discarded (CVE-2011-0411) and
   * kept in `injectedAfterStartTls`; pre-TLS capabilities are forgotten. The certificate is
   * NOT judged here: the caller verifies it (or, for a resumed session, checks what was
   * verified before) and then calls `markVerified()`.
   */
  async startTls(tlsOptions: tls.ConnectionOptions): Promise<tls.TLSSocket> {
    this.#holdAfterReply = true;
    await this.#command('starttls', 'STARTTLS', [220]);
    const leftover = Buffer.concat([this.#buffer, ...(this.#held ?? [])]);
    this.#detach(this.#socket);
    // From here the TLS socket owns the connection and reports its errors.
    this.#socket.on('error', () => {});
    this.#buffer = Buffer.alloc(0);
    this.#held = undefined;
    this.#holdAfterReply = false;
    this.#capabilities = new Map();
    if (leftover.length > 0) {
      this.injectedAfterStartTls = leftover;
      this.#note(`discarded ${leftover.length} bytes received after 220 to STARTTLS`);
    }
    this.#step = 'tls-handshake';
    const tlsSocket = await handshake(
      this.#socket,
      tlsOptions,
      this.options.commandTimeoutMs,
      (session) => {
        this.tlsSession = session;
      },
    );
    this.#tlsSocket = tlsSocket;
    this.#attach(tlsSocket);
    this.#note(
      `TLS ${tlsSocket.getProtocol()} ${tlsSocket.getCipher().name}${tlsSocket.isSessionReused() ? ' (session resumed)' : ''}`,
    );
    return tlsSocket;
  }

  /** Called by the policy engine once the server passed authentication. */
  markVerified(method: AuthMethod): void {
    if (!this.#tlsSocket) {
      throw new SmtpError('mail', 'usage', 'cannot verify a clear-text session');
    }
    this.#verified = true;
    this.#method = method;
  }

  /** How the server was authenticated; undefined until verified. */
  get method(): AuthMethod | undefined {
    return this.#method;
  }

  async mail(from: string, options: MailOptions = {}): Promise<SmtpReply> {
    this.#requireVerified('mail');
    return this.#command('mail', this.#mailLine(from, options), [250]);
  }

  /** The MAIL command line; throws (before anything is written) when it may not be sent. */
  #mailLine(from: string, options: MailOptions): string {
    if (options.smtpUtf8 && !this.#capabilities.has('SMTPUTF8')) {
      throw new SmtpError('mail', 'usage', 'the server does not offer SMTPUTF8 (RFC 6531)');
    }
    checkPath('mail', from, options.smtpUtf8 === true);
    const params: string[] = [];
    if (options.smtpUtf8) params.push('SMTPUTF8');
    if (options.size !== undefined && this.#capabilities.has('SIZE'))
      params.push(`SIZE=${options.size}`);
    if (options.body && this.#capabilities.has('8BITMIME')) params.push(`BODY=${options.body}`);
    if (options.requireTls) {
      // RFC 8689 4.2: the server must advertise REQUIRETLS and be authenticated by DANE
      // or MTA-STS; PKIX alone trusts a possibly forged MX answer.
      if (!this.#capabilities.has('REQUIRETLS')) {
        throw new SmtpError('mail', 'usage', 'the server does not advertise REQUIRETLS');
      }
      if (this.#method !== 'dane' && this.#method !== 'mta-sts') {
        throw new SmtpError(
          'mail',
          'usage',
          'REQUIRETLS needs a DANE- or MTA-STS-authenticated server',
        );
      }
      params.push('REQUIRETLS');
    }
    if (this.#capabilities.has('DSN')) {
      if (options.ret) params.push(`RET=${options.ret}`);
      if (options.envelopeId) params.push(`ENVID=${xtext('mail', options.envelopeId)}`);
    }
    return [`MAIL FROM:<${from}>`, ...params].join(' ');
  }

  async rcpt(to: string, options: RcptOptions = {}): Promise<SmtpReply> {
    this.#requireVerified('rcpt');
    return this.#command('rcpt', this.#rcptLine(to, options), [250, 251]);
  }

  #rcptLine(to: string, options: RcptOptions): string {
    checkPath('rcpt', to, this.#capabilities.has('SMTPUTF8'));
    const params: string[] = [];
    if (this.#capabilities.has('DSN')) {
      if (options.notify) {
        params.push(`NOTIFY=${options.notify === 'NEVER' ? 'NEVER' : options.notify.join(',')}`);
      }
      if (options.originalRecipient) {
        params.push(`ORCPT=rfc822;${xtext('rcpt', options.originalRecipient)}`);
      }
    }
    return [`RCPT TO:<${to}>`, ...params].join(' ');
  }

  /**
   * One message to one recipient: MAIL, RCPT, the content, and the final reply, in the
   * session's TransactionMode. Calls may overlap (up to inFlightLimit() is useful): each
   * resolves with its own final 250 or throws an SmtpError naming its own failed step, in
   * the order the calls were made. A refused MAIL or RCPT throws with that step once all
   * the transaction's replies are read (the dialogue stays in step); content a server wrongly
   * takes after a refused RCPT (354, or 250 to BDAT) never counts as delivered. A transaction
   * that follows an unfinished or failed one starts with RSET, so it never inherits state.
   * Measured (bench, 4,000 messages, SQLite, DATA pipelined): 233 -> 306 msg/s, 3.80 -> 2.90
   * ms CPU/msg (two round trips and two TLS records fewer per message).
   */
  async send(
    from: string,
    to: string,
    message: Buffer,
    options: { mail?: MailOptions; rcpt?: RcptOptions } = {},
  ): Promise<SmtpReply> {
    this.#requireVerified('mail');
    const mail: MailOptions =
      isAscii(from) && isAscii(to) ? (options.mail ?? {}) : { ...options.mail, smtpUtf8: true };
    // Both lines are checked before anything is written or queued.
    const mailLine = this.#mailLine(from, mail);
    const rcptLine = this.#rcptLine(to, options.rcpt ?? {});
    const previous = this.#turn;
    let release = noop;
    this.#turn = new Promise<void>((resolve) => {
      release = resolve;
    });
    let delivered = false;
    let opened = false;
    try {
      await previous;
      if (this.#failure) throw this.#failure;
      const reset = this.#open > 0 || this.#dirty;
      this.#dirty = false;
      this.#open++;
      opened = true;
      const mode = this.transactionMode;
      let reply: SmtpReply;
      switch (mode) {
        case 'bdat-pipelined':
          reply = await this.#sendChunkedPipelined(reset, mailLine, rcptLine, message, release);
          break;
        case 'data-pipelined':
          reply = await this.#sendDataPipelined(reset, mailLine, rcptLine, message, release);
          break;
        case 'bdat':
        case 'data':
          reply = await this.#sendStepwise(mode, reset, mailLine, rcptLine, message);
          break;
        default: {
          const never: never = mode;
          throw new Error(`unknown transaction mode ${String(never)}`);
        }
      }
      delivered = true;
      return reply;
    } finally {
      if (opened) {
        this.#open--;
        if (!delivered) this.#dirty = true;
      }
      release();
    }
  }

  /** [RSET] MAIL RCPT `BDAT n LAST` and the content in one flight; the next may follow. */
  async #sendChunkedPipelined(
    reset: boolean,
    mailLine: string,
    rcptLine: string,
    message: Buffer,
    release: () => void,
  ): Promise<SmtpReply> {
    const content = chunkContentShared(message);
    const commands: Array<[SmtpStep, string]> = [
      ...(reset ? [['rset', 'RSET'] as [SmtpStep, string]] : []),
      ['mail', mailLine],
      ['rcpt', rcptLine],
      ['message', `BDAT ${content.length} LAST`],
    ];
    const replies = this.#pipeline(commands, content);
    this.#sent('<message>');
    release();
    const [rsetReply, mailReply, rcptReply, contentReply] = reset
      ? await readAll(replies)
      : [undefined, ...(await readAll(replies))];
    checkEnvelope(rsetReply, mailReply!, rcptReply!);
    return finalReply('message', contentReply!);
  }

  /** [RSET] MAIL RCPT DATA in one flight; after 354 the content, the next envelope behind it. */
  async #sendDataPipelined(
    reset: boolean,
    mailLine: string,
    rcptLine: string,
    message: Buffer,
    release: () => void,
  ): Promise<SmtpReply> {
    const commands: Array<[SmtpStep, string]> = [
      ...(reset ? [['rset', 'RSET'] as [SmtpStep, string]] : []),
      ['mail', mailLine],
      ['rcpt', rcptLine],
      ['data', 'DATA'],
    ];
    const replies = this.#pipeline(commands);
    const [rsetReply, mailReply, rcptReply, dataReply] = reset
      ? await readAll(replies)
      : [undefined, ...(await readAll(replies))];
    try {
      checkEnvelope(rsetReply, mailReply!, rcptReply!);
    } catch (refused) {
      if (dataReply!.code === 354) {
        // RFC 2920 3.1: with no valid recipient the server must refuse DATA; one that did
        // not gets an empty message, whose reply does not matter: the envelope was refused.
        const [end] = this.#pipeline([], Buffer.from('.\r\n'), 'message');
        this.#sent('.');
        release();
        await end;
      }
      throw refused;
    }
    if (dataReply!.code !== 354) {
      throw new SmtpError('data', 'reply', `data: ${formatReply(dataReply!)}`, {
        reply: dataReply!,
      });
    }
    const [end] = this.#pipeline([], dotStuffShared(message), 'message');
    this.#sent('<message>');
    release();
    return finalReply('message', await end!);
  }

  /** Without PIPELINING: every command waits for its reply (RFC 5321, RFC 3030 alone). */
  async #sendStepwise(
    mode: 'bdat' | 'data',
    reset: boolean,
    mailLine: string,
    rcptLine: string,
    message: Buffer,
  ): Promise<SmtpReply> {
    if (reset) await this.#command('rset', 'RSET', [250]);
    await this.#command('mail', mailLine, [250]);
    await this.#command('rcpt', rcptLine, [250, 251]);
    if (mode === 'data') return this.data(message);
    const content = chunkContentShared(message);
    this.#step = 'message';
    const [end] = this.#pipeline([['message', `BDAT ${content.length} LAST`]], content);
    this.#sent('<message>');
    return finalReply('message', await end!);
  }

  /** DATA, the dot-stuffed message, and the final reply (which carries the queue id). */
  async data(message: Buffer | Readable): Promise<SmtpReply> {
    this.#requireVerified('data');
    await this.#command('data', 'DATA', [354]);
    return this.#message(message);
  }

  /**
   * After 354: the dot-stuffed message and its final reply. The reply is awaited (its timer
   * running) before the content is written: a server that stops reading mid-message would
   * otherwise hold the write, and the connection, forever.
   */
  async #message(message: Buffer | Readable): Promise<SmtpReply> {
    this.#step = 'message';
    if (this.#outOfStep()) {
      const error = new SmtpError('message', 'protocol', 'unsolicited reply from the server');
      this.#fail(error);
      throw error;
    }
    const reply = this.#await('message');
    if (Buffer.isBuffer(message)) {
      await this.#write(dotStuffShared(message));
    } else {
      const stuffer = new DotStuffer();
      for await (const chunk of message as AsyncIterable<Buffer | string>) {
        await this.#write(stuffer.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk)));
      }
      await this.#write(stuffer.end());
    }
    this.#sent('<message>');
    return check('message', await reply, [250]);
  }

  async rset(): Promise<SmtpReply> {
    const reply = await this.#command('rset', 'RSET', [250]);
    this.#dirty = false;
    return reply;
  }

  /** QUIT and close; never throws (the session is over either way). */
  async quit(): Promise<SmtpReply | undefined> {
    try {
      if (this.#failure) return undefined;
      return await this.#command('quit', 'QUIT', [221]);
    } catch {
      return undefined;
    } finally {
      this.close();
    }
  }

  close(): void {
    this.#tlsSocket?.destroy();
    this.#socket.destroy();
  }

  #requireVerified(step: SmtpStep): void {
    if (!this.#verified) {
      throw new SmtpError(step, 'usage', 'refusing to send: the session is not verified');
    }
  }

  /**
   * Writes `commands` (and `content` after them) in this event-loop turn's flight and
   * returns one promise per reply awaited, in order: one per command, and one for the
   * content when `contentReply` names its step. The slots are registered before anything is
   * written, so a reply can only ever meet the command it answers.
   */
  #pipeline(
    commands: Array<[SmtpStep, string]>,
    content?: Buffer,
    contentReply?: SmtpStep,
  ): Promise<SmtpReply>[] {
    const steps = commands.map(([step]) => step);
    if (contentReply !== undefined) steps.push(contentReply);
    if (this.#failure === undefined && this.#outOfStep()) {
      this.#fail(
        new SmtpError(steps[0] ?? this.#step, 'protocol', 'unsolicited reply from the server'),
      );
    }
    const replies = steps.map((step) => this.#await(step));
    if (this.#failure !== undefined) return replies;
    this.#step = steps[0] ?? this.#step;
    if (commands.length > 0) {
      let text = '';
      for (const [, line] of commands) {
        this.#sent(line);
        text += `${line}\r\n`;
      }
      this.#queue(Buffer.from(text));
    }
    if (content !== undefined) this.#queue(content);
    return replies;
  }

  async #command(step: SmtpStep, line: string, expected: number[]): Promise<SmtpReply> {
    this.#step = step;
    if (this.#outOfStep()) {
      // Every reply is read before the next command, or awaited in order (send()), so a
      // reply nobody asked for means the dialogue is out of step.
      const error = new SmtpError(step, 'protocol', 'unsolicited reply from the server');
      this.#fail(error);
      throw error;
    }
    this.#sent(line);
    const reply = this.#await(step);
    await this.#write(Buffer.from(`${line}\r\n`));
    return check(step, await reply, expected);
  }

  /** A reply that nobody awaits, or part of one: the server is not answering our commands. */
  #outOfStep(): boolean {
    return this.#replies.length > 0 || (this.#slots.length === 0 && this.#lines.length > 0);
  }

  async #expect(step: SmtpStep, expected: number[]): Promise<SmtpReply> {
    return check(step, await this.#readReply(step), expected);
  }

  #readReply(step: SmtpStep): Promise<SmtpReply> {
    const ready = this.#replies.shift();
    if (ready) return Promise.resolve(ready);
    return this.#await(step);
  }

  /** The next reply after those already awaited. Marked handled: a caller may stop early. */
  #await(step: SmtpStep): Promise<SmtpReply> {
    if (this.#failure) {
      const failed = Promise.reject(failureAt(this.#failure, step));
      failed.catch(noop);
      return failed;
    }
    const reply = new Promise<SmtpReply>((resolve, reject) => {
      this.#slots.push({ step, resolve, reject });
    });
    reply.catch(noop);
    this.#armTimer();
    return reply;
  }

  /** One timer for the oldest awaited reply, restarted by every reply that arrives. */
  #armTimer(): void {
    if (this.#slots.length === 0) {
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = undefined;
      return;
    }
    if (this.#timer !== undefined) return;
    const step = this.#slots[0]!.step;
    const ms = this.#timeoutFor(step);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#fail(new SmtpError(step, 'timeout', `${step}: no reply within ${ms} ms`));
    }, ms);
  }

  /** The reply to a message's content has the data timeout; every other reply the command one. */
  #timeoutFor(step: SmtpStep): number {
    if (step === 'message') return this.options.dataTimeoutMs ?? this.options.commandTimeoutMs;
    return this.options.commandTimeoutMs;
  }

  #receive(chunk: Buffer): void {
    if (this.#held) {
      this.#held.push(chunk);
      return;
    }
    this.#buffer = this.#buffer.length ? Buffer.concat([this.#buffer, chunk]) : chunk;
    for (;;) {
      const end = this.#buffer.indexOf(0x0a);
      if (end < 0) break;
      const line = this.#buffer.subarray(0, end).toString('latin1').replace(/\r$/, '');
      this.#buffer = this.#buffer.subarray(end + 1);
      if (!this.#acceptLine(line)) return;
      const held = this.#held as Buffer[] | undefined;
      if (held) {
        // The reply to STARTTLS is complete: what follows is not ours to read.
        held.push(this.#buffer);
        this.#buffer = Buffer.alloc(0);
        return;
      }
    }
    if (this.#buffer.length > MAX_REPLY_LINE_OCTETS) {
      this.#fail(new SmtpError(this.#step, 'protocol', 'reply line too long'));
    }
  }

  #acceptLine(line: string): boolean {
    const parsed = parseReplyLine(line);
    if (!parsed) {
      this.#fail(new SmtpError(this.#step, 'protocol', `not an SMTP reply: ${line.slice(0, 80)}`));
      return false;
    }
    this.#lines.push(parsed);
    if (this.#lines.length > MAX_REPLY_LINES) {
      this.#fail(new SmtpError(this.#step, 'protocol', 'reply has too many lines'));
      return false;
    }
    if (!parsed.last) return true;
    const reply = buildReply(this.#lines);
    this.#lines = [];
    this.#transcriptReply(reply);
    if (this.#holdAfterReply) {
      this.#holdAfterReply = false;
      this.#held = [];
    }
    const slot = this.#slots.shift();
    if (slot === undefined) {
      this.#replies.push(reply);
      return true;
    }
    // The next awaited reply gets a full timeout of its own (the data timeout for a content).
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#armTimer();
    }
    slot.resolve(reply);
    return true;
  }

  #fail(error: SmtpError): void {
    if (this.#failure) return;
    this.#failure = error;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const slots = this.#slots;
    this.#slots = [];
    for (const slot of slots) slot.reject(failureAt(error, slot.step));
    this.#flight = [];
    this.#flightBytes = 0;
    this.#out = [];
    for (const waiter of this.#written.splice(0)) waiter.reject(error);
    this.close();
  }

  #attach(socket: net.Socket): void {
    socket.on('data', this.#onData);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
  }

  #detach(socket: net.Socket): void {
    socket.off('data', this.#onData);
    socket.off('error', this.#onError);
    socket.off('close', this.#onClose);
  }

  /**
   * Adds bytes to this turn's flight, written in the check phase (setImmediate) with
   * everything else queued in this turn: the transactions started together, and a content
   * with the envelope that follows it, leave in one write.
   */
  #queue(bytes: Buffer): void {
    this.#flight.push(bytes);
    this.#flightBytes += bytes.length;
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(this.#flushSoon);
    }
  }

  #flush(): void {
    this.#flushScheduled = false;
    const flight = this.#flight;
    if (flight.length === 0) return;
    this.#flight = [];
    const size = this.#flightBytes;
    this.#flightBytes = 0;
    if (this.#failure) return;
    if (flight.length > 1 && size <= COPY_FLIGHT_MAX) this.#enqueue(Buffer.concat(flight, size));
    else for (const bytes of flight) this.#enqueue(bytes);
    this.#pump();
  }

  /** Adds bytes to the outgoing queue, a large buffer as WRITE_SLICE views of it (no copy). */
  #enqueue(bytes: Buffer): void {
    if (bytes.length <= WRITE_SLICE) {
      this.#out.push(bytes);
      return;
    }
    for (let at = 0; at < bytes.length; at += WRITE_SLICE) {
      this.#out.push(bytes.subarray(at, at + WRITE_SLICE));
    }
  }

  /**
   * Writes the outgoing queue while the socket takes it, and waits for `drain` when it is
   * full. A message handed to a TLS socket in one write is encrypted whole at once: a copy
   * of its size per connection on top of the shared plaintext. Measured (issue 15, 5 MB to
   * 1,000 recipients, with the shared dot-stuffed form): 892 -> 342 MiB peak RSS.
   */
  #pump(): void {
    if (this.#awaitingDrain) return;
    const socket = this.#tlsSocket ?? this.#socket;
    while (this.#out.length > 0) {
      if (this.#failure) {
        this.#out = [];
        return;
      }
      // Write errors surface as 'error' on the socket, which fails every awaited reply.
      if (!socket.write(this.#out.shift()!)) {
        this.#awaitingDrain = true;
        socket.once('drain', () => {
          this.#awaitingDrain = false;
          this.#pump();
        });
        return;
      }
    }
    for (const waiter of this.#written.splice(0)) waiter.resolve();
  }

  /** Resolves once `bytes` (after everything queued before them) were taken by the socket. */
  #write(bytes: Buffer): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    // Whatever this turn queued goes first: the bytes must leave in the order written.
    this.#flush();
    this.#enqueue(bytes);
    const written = new Promise<void>((resolve, reject) => {
      this.#written.push({ resolve, reject });
    });
    this.#pump();
    return written;
  }

  #sent(line: string): void {
    if (!this.recording) return;
    this.transcript.push({ at: this.options.now().toISOString(), dir: '>', text: line });
  }

  #transcriptReply(reply: SmtpReply): void {
    if (!this.recording) return;
    this.transcript.push({
      at: this.options.now().toISOString(),
      dir: '<',
      text: formatReply(reply),
    });
  }

  #note(text: string): void {
    if (!this.recording) return;
    this.transcript.push({ at: this.options.now().toISOString(), dir: '!', text });
  }
}

/** The connection's failure as seen by the reply awaited at `step`. */
function failureAt(error: SmtpError, step: SmtpStep): SmtpError {
  if (error.step === step) return error;
  return new SmtpError(step, error.kind, error.message, {
    ...(error.reply ? { reply: error.reply } : {}),
    ...(error.causeCode ? { causeCode: error.causeCode } : {}),
  });
}

function check(step: SmtpStep, reply: SmtpReply, expected: number[]): SmtpReply {
  if (!expected.includes(reply.code)) {
    throw new SmtpError(step, 'reply', `${step}: ${formatReply(reply)}`, { reply });
  }
  return reply;
}

/** Every reply, in order; the first failure (a lost connection) after all are settled. */
async function readAll(replies: Promise<SmtpReply>[]): Promise<SmtpReply[]> {
  const out: SmtpReply[] = [];
  for (const reply of replies) out.push(await reply);
  return out;
}

/** RSET (when sent), MAIL and RCPT must all have succeeded for the content to count. */
function checkEnvelope(
  rsetReply: SmtpReply | undefined,
  mailReply: SmtpReply,
  rcptReply: SmtpReply,
): void {
  if (rsetReply !== undefined && rsetReply.code !== 250) {
    throw new SmtpError('rset', 'reply', `rset: ${formatReply(rsetReply)}`, { reply: rsetReply });
  }
  if (mailReply.code !== 250) {
    throw new SmtpError('mail', 'reply', `mail: ${formatReply(mailReply)}`, { reply: mailReply });
  }
  if (rcptReply.code !== 250 && rcptReply.code !== 251) {
    throw new SmtpError('rcpt', 'reply', `rcpt: ${formatReply(rcptReply)}`, { reply: rcptReply });
  }
}

/** Only a 250 to the content itself means the server took the message. */
function finalReply(step: SmtpStep, reply: SmtpReply): SmtpReply {
  if (reply.code !== 250) {
    throw new SmtpError(step, 'reply', `${step}: ${formatReply(reply)}`, { reply });
  }
  return reply;
}
