// A slow client (issue 15): it sends its request a byte at a time, so that only the server's
// time limits can end the connection. Used by the slow-client fault test and the chaos row.

import net from 'node:net';

export interface Trickler {
  /** What the server sent so far, as latin1. */
  received: () => string;
  /** Resolves with the milliseconds the connection lasted. */
  closed: Promise<number>;
}

export interface TrickleOptions {
  /** Sent at once on connecting, before the trickle (complete headers, then a slow body). */
  head?: string;
  /** The client's source address (the MX limits connections per address). */
  localAddress?: string;
}

/** Connects to 127.0.0.1:`port` and writes `text` one byte every `everyMs`, reading all replies. */
export function trickle(
  port: number,
  text: string,
  everyMs: number,
  options: TrickleOptions = {},
): Trickler {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress: options.localAddress });
  let received = '';
  const started = Date.now();
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString('latin1');
  });
  socket.on('error', () => {});
  if (options.head !== undefined) socket.write(options.head);
  let at = 0;
  const timer = setInterval(() => {
    if (at < text.length && socket.writable) socket.write(text[at++]!);
  }, everyMs);
  const closed = new Promise<number>((resolve) => {
    socket.on('close', () => {
      clearInterval(timer);
      resolve(Date.now() - started);
    });
  });
  return { received: () => received, closed };
}
