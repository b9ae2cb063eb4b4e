// One SMTP session of a sink that keeps no messages, shared by the counting sink of the fault
// tests and chaos suite (counting-sink.ts) and the benchmark sink (bench/sink.ts), so both
// speak the same dialogue: STARTTLS, MAIL/RCPT/DATA/BDAT/RSET/NOOP/QUIT, pipelined commands
// answered in order with the replies to one read in one write (as Postfix flushes when its
// input buffer is empty). What a sink counts and whether it misbehaves after a message's
// content are the caller's, through `content`. Framing is smtp-input.ts.

import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { SmtpInput, type SmtpInputHandler } from './smtp-input.ts';

/** What a sink does once a message's content is in: answer 250, drop the connection, or never reply again. */
export type SinkAction = 'reply' | 'drop' | 'stall';

export interface SinkSessionOptions {
  /** Host name in the greeting and the first EHLO line. */
  name: string;
  /** EHLO keywords besides CHUNKING and STARTTLS, in order. */
  capabilities: readonly string[];
  /** Offer and frame CHUNKING (RFC 3030) after STARTTLS. */
  chunking: boolean;
  /**
   * Stop reading once DATA is answered 354 (a server that stalls mid-content): the client's
   * writes then fill the socket buffers and wait for a drain that never comes.
   */
  deafAfterData?: boolean;
  /**
   * A message's content is in: its recipients (lower-cased addresses), its octets (DATA still
   * dot-stuffed) and whether it came with BDAT. The answer says what to do next.
   */
  content(recipients: readonly string[], octets: number, chunked: boolean): SinkAction;
}

/** Queue ids for the 250 replies, unique within the process. */
let queued = 0;

/** Speaks SMTP on `link` (a socket, or a delayed link over one) until the client is done. */
export function serveSinkSession(
  link: Duplex,
  context: tls.SecureContext,
  options: SinkSessionOptions,
): void {
  const { chunking } = options;
  const ehlo = (secure: boolean) => {
    const list = [options.name, ...options.capabilities];
    if (secure && chunking) list.push('CHUNKING');
    if (!secure) list.push('STARTTLS');
    return list.map((c, i) => `250${i === list.length - 1 ? ' ' : '-'}${c}\r\n`).join('');
  };
  let stream: Duplex = link;
  let secure = false;
  /** Recipients of the open transaction; undefined: no MAIL yet. */
  let rcpts: string[] | undefined;
  /** Octets of the open transaction's BDAT chunks. */
  let chunkedOctets = 0;
  let out = '';
  let stalled = false;
  const flush = () => {
    if (out !== '' && !stream.destroyed && !stalled) stream.write(out);
    out = '';
  };
  const content = (octets: number, chunked: boolean) => {
    if (stalled) return;
    const to = rcpts ?? [];
    rcpts = undefined;
    chunkedOctets = 0;
    const action = options.content(to, octets, chunked);
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
    out += `250 2.0.0 Ok: queued as Q${++queued}\r\n`;
  };
  const handler: SmtpInputHandler = {
    command(line) {
      if (stalled) return;
      switch (line.slice(0, 4).toUpperCase()) {
        case 'EHLO':
          out += ehlo(secure);
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
          chunkedOctets = 0;
          out += '250 2.1.0 Ok\r\n';
          return;
        case 'RCPT': {
          if (rcpts === undefined) {
            out += '503 5.5.1 Error: need MAIL command\r\n';
            return;
          }
          const match = /<([^>]*)>/.exec(line);
          rcpts.push((match?.[1] ?? '').toLowerCase());
          out += '250 2.1.5 Ok\r\n';
          return;
        }
        case 'DATA':
          if (rcpts === undefined || rcpts.length === 0) {
            out += '554 5.5.1 Error: no valid recipients\r\n';
            return;
          }
          input.startData();
          out += '354 End data with <CR><LF>.<CR><LF>\r\n';
          if (options.deafAfterData) {
            flush();
            stalled = true;
            // The TLS socket reads the connection itself: it is the one to pause.
            stream.pause();
          }
          return;
        case 'RSET':
          rcpts = undefined;
          chunkedOctets = 0;
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
          out += '500 5.5.2 Error: unknown command\r\n';
      }
    },
    data(_content, octets) {
      content(octets, false);
    },
    chunk(_line, size, last) {
      // The octets are read either way (RFC 3030); a chunk without recipients is refused.
      if (rcpts === undefined || rcpts.length === 0) {
        out += '554 5.5.1 Error: no valid recipients\r\n';
        return;
      }
      chunkedOctets += size;
      if (last) content(chunkedOctets, true);
      else out += `250 2.0.0 Ok: ${size} octets received\r\n`;
    },
  };
  // Contents are framed, not kept: a sink taking 25 MB messages on a hundred connections
  // would otherwise hold gigabytes.
  let input = new SmtpInput(handler, { chunking, keepContent: false });
  const onData = (chunk: Buffer) => {
    input.push(chunk);
    flush();
  };
  link.on('data', onData);
  link.on('error', () => {});
  link.write(`220 ${options.name} ESMTP sink\r\n`);
}
