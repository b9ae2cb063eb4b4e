// Acceptance included: N single-recipient messages of about 2 KB are POSTed through the API
// (app.inject, 16 in flight) while the delivery worker runs in the same process, as
// `npm start` runs both, and delivered over verified TLS with DKIM to the sink host. The CPU
// is this process's from the first POST to the last delivery, per message: accepting,
// storing, signing and sending. (inject also simulates the HTTP client's side of each
// request, which a real client would spend in its own process: a slight overstatement.)

import type { Sink } from './delivery.ts';
import { RECIPIENT_DOMAINS } from './delivery.ts';
import type { BenchWorld } from './world.ts';
import { benchMime, SENDER_DOMAIN } from './world.ts';

export interface EndToEndResult {
  messages: number;
  delivered: number;
  seconds: number;
  perSecond: number;
  cpuMsPerMessage: number;
  timedOut: boolean;
}

/** Submissions in flight at once, as several API clients would have. */
const IN_FLIGHT = 16;

export async function runEndToEnd(
  w: BenchWorld,
  sink: Sink,
  count: number,
  limitMs: number,
  env: Record<string, string> = {},
): Promise<EndToEndResult> {
  const bodies = Array.from({ length: count }, (_, i) => ({
    sender: `news@${SENDER_DOMAIN}`,
    recipients: [`e2e${i}@d${i % RECIPIENT_DOMAINS}.test`],
    message: benchMime(i),
  }));
  const worker = w.worker(sink.port, env);
  const before = await sink.stats();
  const cpu = process.cpuUsage();
  const started = performance.now();
  worker.start();
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      for (let i = next++; i < count; i = next++) {
        const response = await w.app.inject({
          method: 'POST',
          url: '/message',
          headers: w.auth,
          payload: bodies[i]!,
        });
        if (response.statusCode !== 202) {
          throw new Error(`POST /message: ${response.statusCode} ${response.body.slice(0, 300)}`);
        }
        // As the API does for a worker in its own process: wake it when mail arrives.
        worker.poke();
      }
    }),
  );
  let delivered = 0;
  let timedOut = false;
  for (;;) {
    delivered = (await sink.stats()).messages - before.messages;
    if (delivered >= count) break;
    if (performance.now() - started > limitMs) {
      timedOut = true;
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  await worker.stop();
  return {
    messages: count,
    delivered,
    seconds,
    perSecond: delivered / seconds,
    cpuMsPerMessage: (used.user + used.system) / 1000 / Math.max(1, delivered),
    timedOut,
  };
}
