// Is the sink fast enough? The WAN benchmark is only honest while the sink (one process,
// one core) is not what limits it, and the goal is 1,500+ msg/s. This drives a sink as hard
// as round trips allow: C raw TLS connections, each sending the next ~2 KB message as soon
// as the previous one is answered (MAIL, RCPT and BDAT ... LAST in one flight, or MAIL, RCPT,
// DATA and then the content), and reports the sink's msg/s and its own CPU per message.
// The sender here is not SecureMail (no DKIM, no store), so the sink is the only real load.
// Measured (2 shared cores): at RTT 50 ms, 200 connections, BDAT 3,579 msg/s at 0.085 ms of
// sink CPU per message (31 % of one core), DATA 1,833 msg/s at 0.146 ms; at RTT 0, 20
// connections, BDAT 14,720 msg/s at 0.035 ms. Round trips, not the sink, set those rates.
//
//   node bench/sink-load.ts      (SINK_LOAD_RTT_MS=50, SINK_LOAD_CONNECTIONS=200,
//                                 SINK_LOAD_SECONDS=10, SINK_LOAD_MODE=bdat|data)

import { makeCa, makeLeaf } from '../test/support/certs.ts';
import { RawSmtpClient } from '../test/support/raw-smtp-client.ts';
import { SINK_HOST, startSinkProcess } from './delivery.ts';
import { benchMime } from './mime.ts';

const env = process.env;
const rttMs = Number(env.SINK_LOAD_RTT_MS ?? 50);
const connections = Number(env.SINK_LOAD_CONNECTIONS ?? 200);
const seconds = Number(env.SINK_LOAD_SECONDS ?? 10);
const mode = env.SINK_LOAD_MODE === 'data' ? 'data' : 'bdat';

const ca = await makeCa('Sink Load CA');
const leaf = await makeLeaf({ names: [SINK_HOST], issuer: ca });
const sink = await startSinkProcess(leaf, { rttMs, chunking: true });
const body = Buffer.from(benchMime(0));
const bdat = Buffer.concat([
  Buffer.from(`MAIL FROM:<a@shop.nl>\r\nRCPT TO:<b@d0.test>\r\nBDAT ${body.length} LAST\r\n`),
  body,
]);
const data = Buffer.concat([body, Buffer.from('.\r\n')]);

let running = true;
const clients = await Promise.all(
  Array.from({ length: connections }, async () => {
    const c = await RawSmtpClient.connect(sink.port);
    await c.replies(1, 10_000);
    c.write('EHLO load.test\r\n');
    await c.replies(1, 10_000);
    await c.startTls(SINK_HOST, ca.pem);
    c.write('EHLO load.test\r\n');
    await c.replies(1, 10_000);
    return c;
  }),
);
const before = await sink.stats();
const started = performance.now();
await Promise.all([
  ...clients.map(async (c) => {
    while (running) {
      if (mode === 'bdat') {
        c.write(bdat);
        await c.replies(3, 10_000);
      } else {
        c.write('MAIL FROM:<a@shop.nl>\r\nRCPT TO:<b@d0.test>\r\nDATA\r\n');
        await c.replies(3, 10_000);
        c.write(data);
        await c.replies(1, 10_000);
      }
    }
  }),
  new Promise<void>((resolve) =>
    setTimeout(() => {
      running = false;
      resolve();
    }, seconds * 1000),
  ),
]);
const elapsed = (performance.now() - started) / 1000;
const after = await sink.stats();
const messages = after.messages - before.messages;
const cpuMs = (after.cpuMicros - before.cpuMicros) / 1000;
process.stdout.write(
  `sink at RTT ${rttMs} ms, ${connections} connections, ${mode.toUpperCase()}: ` +
    `${(messages / elapsed).toFixed(0)} msg/s, sink CPU ${(cpuMs / messages).toFixed(3)} ms/msg ` +
    `(${((100 * cpuMs) / 1000 / elapsed).toFixed(0)} % of one core)\n`,
);
for (const c of clients) c.close();
sink.close();
process.exit(0);
