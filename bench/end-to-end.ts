// Acceptance included: N single-recipient messages of about 2 KB are POSTed to the API over
// HTTP (keep-alive, 16 in flight) by a client in a process of its own (client.ts), while the
// delivery worker runs in the service's process, as `npm start` runs both, and delivers
// them over verified TLS with DKIM to the sink host (another process). The CPU is the
// service process's from the first POST to the last delivery, per message: receiving and
// storing each message, then signing and sending it.

import { fork } from 'node:child_process';
import type { Sink } from './delivery.ts';
import { RECIPIENT_DOMAINS } from './delivery.ts';
import type { BenchWorld } from './world.ts';

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
  const url = await w.app.listen({ host: '127.0.0.1', port: 0 });
  const client = fork(new URL('./client.ts', import.meta.url), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const worker = w.worker(sink.port, env);
  // As the service does for a worker in its own process: wake it when mail arrives.
  w.onAccepted = () => worker.poke();
  const before = await sink.stats();
  const cpu = process.cpuUsage();
  const started = performance.now();
  worker.start();
  const answered = new Promise<{ failures: string[] }>((resolve, reject) => {
    client.once('message', resolve);
    client.once('error', reject);
  });
  client.send({
    url,
    authorization: w.auth.authorization,
    count,
    domains: RECIPIENT_DOMAINS,
    inFlight: IN_FLIGHT,
  });
  const { failures } = await answered;
  if (failures.length > 0) throw new Error(`POST /message failed: ${failures.join('; ')}`);
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
  w.onAccepted = undefined;
  client.kill();
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
