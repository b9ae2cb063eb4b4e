// Internet latency on a loopback connection, for the benchmark sink (sink.ts): the sink does
// not speak on the accepted TCP socket itself but on one end of a pair of in-memory streams,
// and every byte crosses between that pair and the socket one one-way delay (RTT/2) later, in
// both directions and in order. SMTP in the clear and the TLS records of STARTTLS (the TLS
// server socket sits on the inner end) both pay it, so a TLS 1.3 handshake costs its one
// round trip and a pipelined flight of commands gets its replies one RTT after it was sent,
// as on a WAN. The TCP handshake, which the kernel completes at once on loopback, is paid
// before the server may greet (see TCP_HANDSHAKE_ONE_WAY_TRIPS).
//
// Not modelled: bandwidth and the congestion window (a 2 KB message fits in the initial
// window of 10 segments, RFC 6928, so at this size latency is what costs), loss, jitter.

import type net from 'node:net';
import { type Duplex, duplexPair } from 'node:stream';

/**
 * One-way trips before the server sees a new connection established: SYN, SYN-ACK and the
 * client's ACK (accept() returns then); the greeting then takes one more, so the client
 * reads it 2 RTT after it began to connect, as over the internet.
 */
export const TCP_HANDSHAKE_ONE_WAY_TRIPS = 3;

/**
 * Puts `oneWayMs` of delay in each direction between `socket` and the returned stream, and
 * calls `established` with that stream once the TCP handshake would have completed.
 * Timers of one duration fire in the order they were set (Node keeps one list per
 * duration), so one setTimeout per read or write keeps the byte order.
 */
export function delayedLink(
  socket: net.Socket,
  oneWayMs: number,
  established: (stream: Duplex) => void,
): void {
  const [inner, outer] = duplexPair();
  const later = (fn: () => void) => setTimeout(fn, oneWayMs);
  // Client to server.
  socket.on('data', (chunk: Buffer) => later(() => outer.destroyed || outer.write(chunk)));
  socket.on('end', () => later(() => outer.destroyed || outer.end()));
  // Server to client.
  outer.on('data', (chunk: Buffer) => later(() => socket.destroyed || socket.write(chunk)));
  outer.on('end', () => later(() => socket.destroyed || socket.end()));
  outer.on('error', () => {});
  inner.on('error', () => {});
  socket.on('close', () => {
    inner.destroy();
    outer.destroy();
  });
  inner.on('close', () => later(() => socket.destroy()));
  setTimeout(() => established(inner), TCP_HANDSHAKE_ONE_WAY_TRIPS * oneWayMs);
}
