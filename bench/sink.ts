// A minimal TLS SMTP sink for the delivery benchmark, run as a child process so that its CPU
// is not counted as the sender's. It speaks just enough ESMTP: EHLO with PIPELINING, SIZE,
// 8BITMIME and STARTTLS, then MAIL/RCPT/DATA/RSET/NOOP/QUIT, answering pipelined commands
// in order. It accepts everything and keeps only counters.
//
// Protocol with the parent (IPC): the parent sends {key, cert}; the sink answers
// {port} once it listens; on {stats: true} it answers {connections, messages, bytes}.

import net from 'node:net';
import tls from 'node:tls';

interface Start {
  key: string;
  cert: string;
  host?: string;
}

const CRLF_DOT_CRLF = Buffer.from('\r\n.\r\n');
let connections = 0;
let messages = 0;
let bytes = 0;

function serve(plain: net.Socket, context: tls.SecureContext): void {
  connections++;
  plain.setNoDelay(true);
  plain.on('error', () => {});
  let socket: net.Socket = plain;
  let secure = false;
  let buffer: Buffer = Buffer.alloc(0);
  let inData = false;
  // Replies produced while handling one chunk go out in one write (as a pipelining server does).
  let out: string[] = [];

  const flush = () => {
    if (out.length > 0 && !socket.destroyed) socket.write(out.join(''));
    out = [];
  };

  const onData = (chunk: Buffer) => {
    buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
    for (;;) {
      if (inData) {
        // The terminator may be right at the start when the message is empty.
        const at = buffer.indexOf(CRLF_DOT_CRLF);
        if (at < 0) break;
        bytes += at + 2;
        messages++;
        buffer = buffer.subarray(at + CRLF_DOT_CRLF.length);
        inData = false;
        out.push(`250 2.0.0 Ok: queued as S${messages}\r\n`);
        continue;
      }
      const end = buffer.indexOf(0x0a);
      if (end < 0) break;
      const line = buffer.subarray(0, end).toString('latin1').replace(/\r$/, '');
      buffer = buffer.subarray(end + 1);
      const verb = line.slice(0, 4).toUpperCase();
      switch (verb) {
        case 'EHLO': {
          const caps = ['mx.sink.test', 'PIPELINING', 'SIZE 52428800', '8BITMIME'];
          if (!secure) caps.push('STARTTLS');
          out.push(caps.map((c, i) => `250${i === caps.length - 1 ? ' ' : '-'}${c}\r\n`).join(''));
          break;
        }
        case 'STAR': {
          out.push('220 2.0.0 Ready to start TLS\r\n');
          flush();
          plain.off('data', onData);
          buffer = Buffer.alloc(0);
          const secureSocket = new tls.TLSSocket(plain, { isServer: true, secureContext: context });
          secureSocket.on('error', () => plain.destroy());
          secureSocket.on('data', onData);
          secure = true;
          socket = secureSocket;
          return;
        }
        case 'MAIL':
          out.push('250 2.1.0 Ok\r\n');
          break;
        case 'RCPT':
          out.push('250 2.1.5 Ok\r\n');
          break;
        case 'DATA':
          // DATA ends a pipelined group (RFC 2920): answer now so the client sends the body.
          inData = true;
          out.push('354 End data with <CR><LF>.<CR><LF>\r\n');
          break;
        case 'RSET':
        case 'NOOP':
          out.push('250 2.0.0 Ok\r\n');
          break;
        case 'QUIT':
          out.push('221 2.0.0 Bye\r\n');
          flush();
          socket.end();
          return;
        default:
          out.push('500 5.5.2 Unknown command\r\n');
      }
    }
    flush();
  };
  plain.on('data', onData);
  plain.write('220 mx.sink.test ESMTP sink\r\n');
}

process.on('message', (message: Start | { stats: true }) => {
  if ('stats' in message) {
    process.send?.({ connections, messages, bytes });
    return;
  }
  const context = tls.createSecureContext({ key: message.key, cert: message.cert });
  const server = net.createServer((socket) => serve(socket, context));
  server.listen(0, message.host ?? '127.0.0.1', () => {
    const { port } = server.address() as net.AddressInfo;
    process.send?.({ port });
  });
});
process.on('disconnect', () => process.exit(0));
