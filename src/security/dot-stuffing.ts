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
    const out: number[] = [];
    for (const byte of chunk) {
      if (this.#pendingCr) {
        this.#pendingCr = false;
        this.#newline(out);
        if (byte === LF) continue;
      }
      if (byte === CR) {
        this.#pendingCr = true;
        continue;
      }
      if (byte === LF) {
        this.#newline(out);
        continue;
      }
      if (this.#atLineStart && byte === DOT) out.push(DOT);
      this.#atLineStart = false;
      out.push(byte);
    }
    return Buffer.from(out);
  }

  /** The bytes that end the message: a final CRLF when missing, then `.` CRLF. */
  end(): Buffer {
    const out: number[] = [];
    if (this.#pendingCr) {
      this.#pendingCr = false;
      this.#newline(out);
    }
    if (!this.#atLineStart) this.#newline(out);
    out.push(DOT, CR, LF);
    return Buffer.from(out);
  }

  #newline(out: number[]): void {
    out.push(CR, LF);
    this.#atLineStart = true;
  }
}

/** Convenience for a whole message in memory. */
export function dotStuff(message: Buffer): Buffer {
  const stuffer = new DotStuffer();
  return Buffer.concat([stuffer.push(message), stuffer.end()]);
}
