// Sending one query to one server and waiting for the matching reply, over UDP or TCP.
// Each exchange uses its own socket, so each query gets a fresh random source port and
// nothing is left open between queries.

import * as dgram from 'node:dgram';
import * as net from 'node:net';
import type { DnsServer } from './types.ts';

export type ExchangeResult<R> =
  | { kind: 'reply'; reply: R }
  | { kind: 'timeout' }
  | { kind: 'error'; error: Error };

/** Returns the reply when `message` answers our query, `undefined` to keep waiting. */
export type ReplyParser<R> = (message: Buffer) => R | undefined;

/** RFC 1035 4.2.2: TCP messages are preceded by a two-byte length. */
const TCP_LENGTH_BYTES = 2;

export function exchangeUdp<R>(
  server: DnsServer,
  query: Buffer,
  parse: ReplyParser<R>,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<ExchangeResult<R>> {
  if (signal.aborted) return Promise.resolve(closedResult());
  return new Promise((resolve) => {
    const socket = dgram.createSocket(net.isIPv6(server.host) ? 'udp6' : 'udp4');
    const finish = settleOnce(resolve, timeoutMs, signal, () => {
      try {
        socket.close();
      } catch {
        // Already closed, or never bound because connect failed.
      }
    });
    socket.on('error', (error) => finish({ kind: 'error', error }));
    socket.on('message', (message) => {
      const reply = parse(message);
      if (reply !== undefined) finish({ kind: 'reply', reply });
    });
    // A connected socket only receives datagrams from the server's address and port.
    socket.connect(server.port, server.host, () => {
      socket.send(query, (error) => {
        if (error) finish({ kind: 'error', error });
      });
    });
  });
}

export function exchangeTcp<R>(
  server: DnsServer,
  query: Buffer,
  parse: ReplyParser<R>,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<ExchangeResult<R>> {
  if (signal.aborted) return Promise.resolve(closedResult());
  return new Promise((resolve) => {
    const socket = net.connect({ host: server.host, port: server.port });
    const finish = settleOnce(resolve, timeoutMs, signal, () => socket.destroy());
    socket.on('error', (error) => finish({ kind: 'error', error }));
    socket.on('close', () =>
      finish({ kind: 'error', error: new Error('DNS server closed the connection') }),
    );
    socket.on('connect', () => {
      const framed = Buffer.alloc(TCP_LENGTH_BYTES + query.length);
      framed.writeUInt16BE(query.length, 0);
      query.copy(framed, TCP_LENGTH_BYTES);
      socket.write(framed);
    });
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= TCP_LENGTH_BYTES) {
        const length = buffered.readUInt16BE(0);
        if (buffered.length < TCP_LENGTH_BYTES + length) return;
        const message = buffered.subarray(TCP_LENGTH_BYTES, TCP_LENGTH_BYTES + length);
        buffered = buffered.subarray(TCP_LENGTH_BYTES + length);
        const reply = parse(message);
        if (reply !== undefined) {
          finish({ kind: 'reply', reply });
          return;
        }
      }
    });
  });
}

/**
 * Wraps `resolve` so the first result wins, the timer and abort listener are removed and
 * the socket is released exactly once.
 */
function settleOnce<R>(
  resolve: (result: ExchangeResult<R>) => void,
  timeoutMs: number,
  signal: AbortSignal,
  release: () => void,
): (result: ExchangeResult<R>) => void {
  let settled = false;
  const finish = (result: ExchangeResult<R>): void => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
    release();
    resolve(result);
  };
  const onAbort = (): void => finish(closedResult());
  const timer = setTimeout(() => finish({ kind: 'timeout' }), timeoutMs);
  signal.addEventListener('abort', onAbort, { once: true });
  return finish;
}

function closedResult(): { kind: 'error'; error: Error } {
  return { kind: 'error', error: new Error('DNS resolver closed') };
}
