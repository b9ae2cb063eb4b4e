// A minimal TLS SMTP sink for the delivery benchmarks, run as a child process so that its CPU
// is not counted as the sender's. It offers what Postfix 3.4+ offers after STARTTLS:
// PIPELINING, SIZE, ENHANCEDSTATUSCODES, 8BITMIME, DSN, SMTPUTF8 and CHUNKING (RFC 3030
// `BDAT n [LAST]`; off with `chunking: false`), takes MAIL/RCPT/DATA/BDAT/RSET/NOOP/QUIT,
// answers pipelined commands in order with the replies to one read in one write, accepts
// every recipient and keeps only counters. Framing is test/support/smtp-input.ts, shared with
// the test SMTP server, so the BDAT octet counting is the one its tests check.
//
// WAN mode (`rttMs` > 0): the sink speaks through a delayed link (delayed-link.ts) that
// holds every byte RTT/2 in each direction, TCP and TLS handshakes included; so the replies
// to a batch of commands reach the client one RTT after it sent them.
//
// Protocol with the parent (IPC): the parent sends {key, cert, rttMs, chunking}; the sink
// answers {port} once it listens; on {stats: true} it answers SinkStats.

import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { SmtpInput, type SmtpInputHandler } from '../test/support/smtp-input.ts';
import { delayedLink } from './delayed-link.ts';

export interface SinkStart {
  key: string;
  cert: string;
  host?: string;
  /** Round-trip time to model, in ms; 0: plain loopback. */
  rttMs: number;
  /** Offer CHUNKING (RFC 3030) after STARTTLS, as Postfix 3.4+ does. */
  chunking: boolean;
}

export interface SinkStats {
  connections: number;
  /** Messages accepted (a transaction's final 250). */
  messages: number;
  /** Recipients of the accepted messages. */
  recipients: number;
  /** Messages of those that came with BDAT (CHUNKING) rather than DATA. */
  chunked: number;
  /** Content octets of the accepted messages (DATA still dot-stuffed). */
  bytes: number;
  /** The sink process's own CPU so far (user + system), in microseconds. */
  cpuMicros: number;
}

const stats: SinkStats = {
  connections: 0,
  messages: 0,
  recipients: 0,
  chunked: 0,
  bytes: 0,
  cpuMicros: 0,
};

function ehloReply(secure: boolean, chunking: boolean): string {
  const caps = ['mx.sink.test', 'PIPELINING', 'SIZE 52428800', 'ENHANCEDSTATUSCODES'];
  caps.push('8BITMIME', 'DSN', 'SMTPUTF8');
  if (chunking) caps.push('CHUNKING');
  if (!secure) caps.push('STARTTLS');
  return caps.map((c, i) => `250${i === caps.length - 1 ? ' ' : '-'}${c}\r\n`).join('');
}

function serve(link: Duplex, context: tls.SecureContext, start: SinkStart): void {
  const ehloPlain = ehloReply(false, start.chunking);
  const ehloSecure = ehloReply(true, start.chunking);
  let stream: Duplex = link;
  let secure = false;
  /** Recipients accepted in the open transaction; -1: no MAIL yet. */
  let recipients = -1;
  /** Octets of the open transaction's BDAT chunks. */
  let chunked = 0;
  let out = '';

  const accepted = (size: number) => {
    stats.messages++;
    stats.recipients += recipients;
    stats.bytes += size;
    recipients = -1;
    chunked = 0;
    out += `250 2.0.0 Ok: queued as S${stats.messages}\r\n`;
  };
  const handler: SmtpInputHandler = {
    command(line) {
      switch (line.slice(0, 4).toUpperCase()) {
        case 'EHLO':
          out += secure ? ehloSecure : ehloPlain;
          return;
        case 'STAR': {
          out += '220 2.0.0 Ready to start TLS\r\n';
          flush();
          input.stop();
          link.off('data', onData);
          input = new SmtpInput(handler, { chunking: start.chunking });
          const secureSocket = new tls.TLSSocket(link, { isServer: true, secureContext: context });
          secureSocket.on('error', () => link.destroy());
          secureSocket.on('data', onData);
          secure = true;
          stream = secureSocket;
          return;
        }
        case 'MAIL':
          recipients = 0;
          chunked = 0;
          out += '250 2.1.0 Ok\r\n';
          return;
        case 'RCPT':
          if (recipients < 0) {
            out += '503 5.5.1 Error: need MAIL command\r\n';
            return;
          }
          recipients++;
          out += '250 2.1.5 Ok\r\n';
          return;
        case 'DATA':
          if (recipients <= 0) {
            out += '554 5.5.1 Error: no valid recipients\r\n';
            return;
          }
          input.startData();
          out += '354 End data with <CR><LF>.<CR><LF>\r\n';
          return;
        case 'RSET':
          recipients = -1;
          chunked = 0;
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
          out += '500 5.5.2 Unknown command\r\n';
      }
    },
    data(content) {
      accepted(content.length);
    },
    chunk(_line, size, last) {
      // The octets are read either way (RFC 3030); a chunk without recipients is refused.
      if (recipients <= 0) {
        out += '554 5.5.1 Error: no valid recipients\r\n';
        return;
      }
      chunked += size;
      if (!last) {
        out += `250 2.0.0 Ok: ${size} octets received\r\n`;
        return;
      }
      stats.chunked++;
      accepted(chunked);
    },
  };
  let input = new SmtpInput(handler, { chunking: start.chunking });
  const flush = () => {
    if (out !== '' && !stream.destroyed) stream.write(out);
    out = '';
  };
  // Replies produced while one read is handled go out in one write, as a pipelining server
  // (and Postfix, which flushes when its input buffer is empty) sends them.
  const onData = (chunk: Buffer) => {
    input.push(chunk);
    flush();
  };
  link.on('data', onData);
  link.on('error', () => {});
  link.write('220 mx.sink.test ESMTP sink\r\n');
}

process.on('message', (message: SinkStart | { stats: true }) => {
  if ('stats' in message) {
    const cpu = process.cpuUsage();
    process.send?.({ ...stats, cpuMicros: cpu.user + cpu.system });
    return;
  }
  const start = message;
  const context = tls.createSecureContext({ key: start.key, cert: start.cert });
  const server = net.createServer((socket) => {
    stats.connections++;
    socket.setNoDelay(true);
    socket.on('error', () => {});
    if (start.rttMs > 0)
      delayedLink(socket, start.rttMs / 2, (link) => serve(link, context, start));
    else serve(socket, context, start);
  });
  server.listen(0, start.host ?? '127.0.0.1', () => {
    const { port } = server.address() as net.AddressInfo;
    process.send?.({ port });
  });
});
process.on('disconnect', () => process.exit(0));
