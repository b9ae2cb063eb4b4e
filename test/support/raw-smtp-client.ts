// A bare SMTP client for testing test servers (smtp-server.ts, the benchmark sink) byte for
// byte: it writes exactly the bytes a test gives it, pipelined or not, and reads whole
// replies. Our own SmtpClient is what those servers exist to test, so it cannot be used to
// check them.
import net from 'node:net';
import tls from 'node:tls';

/** A bare SMTP client: writes raw bytes and reads whole replies (multi-line ones joined). */
export class RawSmtpClient {
  #socket: net.Socket;
  #text = '';
  #closed = false;
  #waiting: (() => void) | undefined;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    this.#listen(socket);
  }

  /** Connects; the greeting is left to read with `replies(1)`. */
  static async connect(port: number, host = '127.0.0.1'): Promise<RawSmtpClient> {
    const socket = net.connect(port, host);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawSmtpClient(socket);
  }

  #listen(socket: net.Socket): void {
    socket.on('data', (chunk: Buffer) => {
      this.#text += chunk.toString('latin1');
      this.#waiting?.();
    });
    socket.on('close', () => {
      this.#closed = true;
      this.#waiting?.();
    });
    socket.on('error', () => {});
  }

  get closed(): boolean {
    return this.#closed;
  }

  write(bytes: string | Buffer): void {
    this.#socket.write(bytes);
  }

  /** The next `n` replies, each as its lines joined with `|`; rejects on close or timeout. */
  async replies(n: number, timeoutMs = 2000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const done = takeReplies(this.#text, n);
      if (done !== undefined) {
        this.#text = done.rest;
        return done.replies;
      }
      if (this.#closed) throw new Error(`closed after ${JSON.stringify(this.#text)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${n} replies in ${JSON.stringify(this.#text)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiting = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#waiting = undefined;
    }
  }

  /** Waits until the server closes the connection (or the time is up). */
  async closedWithin(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.#closed && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return this.#closed;
  }

  /** What arrived and was not read as a reply. */
  get unread(): string {
    return this.#text;
  }

  /** STARTTLS (answered 220) and the handshake, the certificate verified against `ca`. */
  async startTls(servername: string, ca: string): Promise<void> {
    this.write('STARTTLS\r\n');
    const reply = (await this.replies(1))[0]!;
    if (!reply.startsWith('220 ')) throw new Error(`STARTTLS: ${reply}`);
    const plain = this.#socket;
    plain.removeAllListeners('data');
    const secure = tls.connect({ socket: plain, servername, ca });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve);
      secure.once('error', reject);
    });
    this.#socket = secure;
    this.#listen(secure);
  }

  close(): void {
    this.#socket.destroy();
  }
}

function takeReplies(text: string, n: number): { replies: string[]; rest: string } | undefined {
  const replies: string[] = [];
  let lines: string[] = [];
  let at = 0;
  while (replies.length < n) {
    const end = text.indexOf('\r\n', at);
    if (end < 0) return undefined;
    const line = text.slice(at, end);
    at = end + 2;
    lines.push(line);
    if (line[3] !== '-') {
      replies.push(lines.join('|'));
      lines = [];
    }
  }
  return { replies, rest: text.slice(at) };
}
