// A minimal TLS SMTP sink for the delivery benchmarks, run as a child process so that its CPU
// is not counted as the sender's. It offers what Postfix 3.4+ offers after STARTTLS:
// PIPELINING, SIZE, ENHANCEDSTATUSCODES, 8BITMIME, DSN, SMTPUTF8 and CHUNKING (RFC 3030
// `BDAT n [LAST]`; off with `chunking: false`), takes MAIL/RCPT/DATA/BDAT/RSET/NOOP/QUIT,
// answers pipelined commands in order with the replies to one read in one write, accepts
// every recipient and keeps only counters. The SMTP dialogue is test/support/sink-session.ts,
// shared with the counting sink of the fault tests, and its framing smtp-input.ts, shared
// with the test SMTP server, so the BDAT octet counting is the one their tests check.
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
import { serveSinkSession } from '../test/support/sink-session.ts';
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

/** What Postfix 3.4+ offers besides CHUNKING and STARTTLS. */
const CAPABILITIES = [
  'PIPELINING',
  'SIZE 52428800',
  'ENHANCEDSTATUSCODES',
  '8BITMIME',
  'DSN',
  'SMTPUTF8',
];

/** Accepts every message after its content and keeps only the counters. */
function serve(link: Duplex, context: tls.SecureContext, start: SinkStart): void {
  serveSinkSession(link, context, {
    name: 'mx.sink.test',
    capabilities: CAPABILITIES,
    chunking: start.chunking,
    content(recipients, octets, chunked) {
      stats.messages++;
      stats.recipients += recipients.length;
      stats.bytes += octets;
      if (chunked) stats.chunked++;
      return 'reply';
    },
  });
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
