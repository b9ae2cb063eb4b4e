// The server side of SMTP framing, shared by the test SMTP server (smtp-server.ts) and the
// sinks that keep no messages (sink-session.ts), so all split a byte stream into commands, DATA content and
// BDAT chunks (RFC 3030 CHUNKING) the same way. It only frames: what to answer is the
// caller's business. Chunks are framed by their octet count alone, so a chunk is consumed
// even when the server refuses the BDAT (no recipients, after BDAT LAST): otherwise its bytes
// would be read as commands. The `smtp-server` package has no CHUNKING, hence our own.

const LF = 0x0a;
const CR = 0x0d;
const DOT = 0x2e;
const END_OF_DATA = Buffer.from('\r\n.\r\n');
/** `BDAT` SP chunk-size [SP `LAST`] (RFC 3030 section 2); more digits than a safe integer are a syntax error. */
const BDAT_LINE = /^BDAT ([0-9]{1,15})( LAST)?$/i;

export interface SmtpInputHandler {
  /** A command line without its line ending, as latin1 (decode UTF-8 yourself if you need it). */
  command(line: string): void;
  /**
   * DATA content up to the terminating `.`: still dot-stuffed, ends with CRLF unless empty.
   * `octets` is its length, also when the content is not kept.
   */
  data(content: Buffer, octets: number): void;
  /** One BDAT chunk, after exactly `size` octets arrived. `line` is the command as sent. */
  chunk(line: string, size: number, last: boolean, content: Buffer): void;
}

export interface SmtpInputOptions {
  /** Frame `BDAT n [LAST]` chunks; without it BDAT is just another command line. */
  chunking: boolean;
  /**
   * Extra: false to frame contents without keeping them (the handler gets an empty buffer):
   * a sink counting 25 MB messages on a hundred connections would hold gigabytes.
   */
  keepContent?: boolean;
}

export class SmtpInput {
  readonly #handler: SmtpInputHandler;
  readonly #chunking: boolean;
  readonly #keep: boolean;
  #mode: 'command' | 'data' | 'chunk' = 'command';
  #stopped = false;
  /** Unconsumed bytes in command mode (a partial line). */
  #pending: Buffer = Buffer.alloc(0);
  // DATA: the content so far, and the last (up to 4) bytes of CRLF + content, to find a
  // terminator that straddles two reads. The CRLF that ended the DATA line counts as the
  // start, so an empty message (`.` CRLF right away) ends too.
  #parts: Buffer[] = [];
  #length = 0;
  #tail: Buffer = Buffer.from('\r\n');
  // BDAT: the command line, the octets still to come, LAST.
  #chunkLine = '';
  #chunkSize = 0;
  #chunkLeft = 0;
  #chunkLast = false;

  constructor(handler: SmtpInputHandler, options: SmtpInputOptions) {
    this.#handler = handler;
    this.#chunking = options.chunking;
    this.#keep = options.keepContent ?? true;
  }

  /**
   * From now on the bytes are DATA content, up to CRLF `.` CRLF. Call it from `command()`
   * once the DATA was answered 354; the bytes after the DATA line are then read as content.
   */
  startData(): void {
    this.#mode = 'data';
    this.#parts = [];
    this.#length = 0;
    this.#tail = Buffer.from('\r\n');
  }

  /**
   * Nothing more is read, not even what is left of the current read (STARTTLS: what follows
   * the command belongs to the TLS handshake, and clear text sent after it is discarded,
   * CVE-2011-0411). Call it from a handler.
   */
  stop(): void {
    this.#stopped = true;
  }

  /** Frames `bytes` and calls the handler for each complete command, content and chunk. */
  push(bytes: Buffer): void {
    let rest = bytes;
    while (rest.length > 0 && !this.#stopped) {
      if (this.#mode === 'chunk') rest = this.#takeChunk(rest);
      else if (this.#mode === 'data') rest = this.#takeData(rest);
      else rest = this.#takeCommands(rest);
    }
  }

  #takeCommands(bytes: Buffer): Buffer {
    let buffer = this.#pending.length === 0 ? bytes : Buffer.concat([this.#pending, bytes]);
    this.#pending = Buffer.alloc(0);
    for (;;) {
      const end = buffer.indexOf(LF);
      if (end < 0) {
        this.#pending = buffer;
        return Buffer.alloc(0);
      }
      const stop = end > 0 && buffer[end - 1] === CR ? end - 1 : end;
      const line = buffer.toString('latin1', 0, stop);
      buffer = buffer.subarray(end + 1);
      const bdat = this.#chunking ? BDAT_LINE.exec(line) : null;
      if (bdat !== null) {
        this.#mode = 'chunk';
        this.#chunkLine = line;
        this.#chunkSize = Number(bdat[1]);
        this.#chunkLeft = this.#chunkSize;
        this.#chunkLast = bdat[2] !== undefined;
        this.#parts = [];
        // A zero-octet chunk (`BDAT 0 LAST`) is complete at once.
        if (this.#chunkLeft === 0) this.#endChunk();
        return buffer;
      }
      this.#handler.command(line);
      if (this.#stopped || this.#mode !== 'command') return buffer;
    }
  }

  #takeChunk(bytes: Buffer): Buffer {
    const take = Math.min(this.#chunkLeft, bytes.length);
    if (this.#keep) this.#parts.push(bytes.subarray(0, take));
    this.#chunkLeft -= take;
    if (this.#chunkLeft === 0) this.#endChunk();
    return bytes.subarray(take);
  }

  #endChunk(): void {
    const parts = this.#parts;
    const content = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    this.#parts = [];
    this.#mode = 'command';
    this.#handler.chunk(this.#chunkLine, this.#chunkSize, this.#chunkLast, content);
  }

  #takeData(bytes: Buffer): Buffer {
    // The terminator either straddles the previous bytes and this read (look at the tail and
    // the first 4 bytes) or lies inside this read: no copy of the whole read either way.
    const tail = this.#tail;
    const seam = Buffer.concat([tail, bytes.subarray(0, 4)]);
    let at = seam.indexOf(END_OF_DATA);
    if (at < 0) {
      const inside = bytes.indexOf(END_OF_DATA);
      if (inside >= 0) at = inside + tail.length;
    }
    if (at < 0) {
      if (this.#keep) this.#parts.push(bytes);
      this.#length += bytes.length;
      const joined = bytes.length >= 4 ? bytes : Buffer.concat([tail, bytes]);
      this.#tail = Buffer.from(joined.subarray(Math.max(0, joined.length - 4)));
      return Buffer.alloc(0);
    }
    // `at` counts from the start of the tail; the content keeps the CRLF before the dot.
    const contentEnd = at + 2 - tail.length;
    const octets = this.#length + contentEnd;
    const parts =
      contentEnd > 0 && this.#keep ? [...this.#parts, bytes.subarray(0, contentEnd)] : this.#parts;
    const all = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    const content = all.subarray(0, this.#keep ? octets : 0);
    this.#parts = [];
    this.#mode = 'command';
    this.#handler.data(content, octets);
    return bytes.subarray(at + END_OF_DATA.length - tail.length);
  }
}

/** DATA content as the client meant it: one leading dot removed from each line (RFC 5321 4.5.2). */
export function dotUnstuff(content: Buffer): Buffer {
  if (content.indexOf('\n.') < 0 && content[0] !== DOT) return content;
  const out = Buffer.allocUnsafe(content.length);
  let n = 0;
  let lineStart = true;
  for (const byte of content) {
    if (!(lineStart && byte === DOT)) out[n++] = byte;
    lineStart = byte === LF;
  }
  return out.subarray(0, n);
}
