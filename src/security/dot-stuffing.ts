// Message transparency for DATA (RFC 5321 section 4.5.2). Line endings are normalised to
// CRLF first: a bare LF or CR must never reach the server, because servers that take
// `<LF>.<LF>` as the end of data can be made to accept smuggled messages (SMTP smuggling).
// Then every line that starts with "." gets one more ".". Works across chunk boundaries.

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;

export class DotStuffer {
  #atLineStart = true;
  #pendingCr = false;

  /** Transforms one chunk of the message. */
  push(chunk: Buffer): Buffer {
    // Worst case every byte becomes two (a dot doubled, a bare LF/CR becoming CRLF).
    const out = Buffer.allocUnsafe(chunk.length * 2 + 2);
    let n = 0;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]!;
      if (this.#pendingCr) {
        this.#pendingCr = false;
        n = this.#newline(out, n);
        if (byte === LF) continue;
      }
      if (byte === CR) {
        this.#pendingCr = true;
        continue;
      }
      if (byte === LF) {
        n = this.#newline(out, n);
        continue;
      }
      if (this.#atLineStart && byte === DOT) out[n++] = DOT;
      this.#atLineStart = false;
      out[n++] = byte;
    }
    return out.subarray(0, n);
  }

  /** The bytes that end the message: a final CRLF when missing, then `.` CRLF. */
  end(): Buffer {
    const out = Buffer.alloc(7);
    let n = 0;
    if (this.#pendingCr) {
      this.#pendingCr = false;
      n = this.#newline(out, n);
    }
    if (!this.#atLineStart) n = this.#newline(out, n);
    out[n++] = DOT;
    out[n++] = CR;
    out[n++] = LF;
    return out.subarray(0, n);
  }

  #newline(out: Buffer, n: number): number {
    out[n] = CR;
    out[n + 1] = LF;
    this.#atLineStart = true;
    return n + 2;
  }
}

/** A CR not followed by LF, or an LF without its CR. */
export const BARE_LINE_END = /\r(?!\n)|(?<!\r)\n/;

/**
 * A whole message in memory, with its terminator. Usually the message is already CRLF
 * throughout and no line starts with "." (the DKIM signer writes CRLF): then only the end
 * is added, found with three native scans instead of a JavaScript loop over every byte.
 * Measured (2 KB message): 11.1 -> about 2 us.
 */
export function dotStuff(message: Buffer): Buffer {
  const text = message.toString('latin1');
  if (!BARE_LINE_END.test(text) && !text.startsWith('.') && !text.includes('\n.')) {
    const end = text.length === 0 || text.endsWith('\r\n') ? '.\r\n' : '\r\n.\r\n';
    return Buffer.concat([message, Buffer.from(end, 'latin1')]);
  }
  const stuffer = new DotStuffer();
  return Buffer.concat([stuffer.push(message), stuffer.end()]);
}

/** Messages above this size keep their dot-stuffed form for every connection that sends them. */
export const SHARED_STUFFING_MIN = 64 * 1024;

const stuffed = new WeakMap<Buffer, Buffer>();
const chunked = new WeakMap<Buffer, Buffer>();

/**
 * dotStuff() of a message, made once per message buffer when it is large: a bulk message is
 * one prepared (signed) buffer sent on many connections at once, and each send made its own
 * stuffed copy (25 MB each, times the connections sending it). Kept as long as the message
 * buffer itself lives (a WeakMap: nothing to free).
 */
export function dotStuffShared(message: Buffer): Buffer {
  if (message.length <= SHARED_STUFFING_MIN) return dotStuff(message);
  let form = stuffed.get(message);
  if (form === undefined) {
    form =
      plainCrlf(message) && message[0] !== DOT && message.indexOf('\n.') < 0
        ? Buffer.concat([message, Buffer.from(endsWithCrlf(message) ? '.\r\n' : '\r\n.\r\n')])
        : dotStuff(message);
    stuffed.set(message, form);
  }
  return form;
}

/**
 * Whether every line ends with CRLF (no bare CR or LF), scanned in the buffer: the string of
 * a 25 MB message that the small messages' check makes is 25 MB more garbage per form.
 */
function plainCrlf(message: Buffer): boolean {
  for (let i = message.indexOf(LF); i >= 0; i = message.indexOf(LF, i + 1)) {
    if (i === 0 || message[i - 1] !== CR) return false;
  }
  for (let i = message.indexOf(CR); i >= 0; i = message.indexOf(CR, i + 1)) {
    if (message[i + 1] !== LF) return false;
  }
  return true;
}

function endsWithCrlf(message: Buffer): boolean {
  return message.length >= 2 && message[message.length - 2] === CR && message.at(-1) === LF;
}

/**
 * The content of a BDAT chunk (RFC 3030): sent as it is, octet-counted, so no dot-stuffing
 * and no terminator. Line endings are still CRLF throughout, as for DATA: a server that
 * relays the message on with DATA must never receive a bare LF or CR from us. The usual
 * message (CRLF already, ending in CRLF) is returned as it is, without a copy.
 */
export function chunkContent(message: Buffer): Buffer {
  const text = message.toString('latin1');
  if (!BARE_LINE_END.test(text) && (text.length === 0 || text.endsWith('\r\n'))) return message;
  const normalised = text.replace(/\r\n|\r|\n/g, '\r\n');
  return Buffer.from(normalised.endsWith('\r\n') ? normalised : `${normalised}\r\n`, 'latin1');
}

/**
 * chunkContent() of a message, found once per message buffer when it is large (its check
 * reads the whole message as a string, a copy of its size per send otherwise).
 */
export function chunkContentShared(message: Buffer): Buffer {
  if (message.length <= SHARED_STUFFING_MIN) return chunkContent(message);
  let form = chunked.get(message);
  if (form === undefined) {
    form = plainCrlf(message) && endsWithCrlf(message) ? message : chunkContent(message);
    chunked.set(message, form);
  }
  return form;
}
