// Delivery at internet latency (issue 11): the sink answers through a delayed link
// (delayed-link.ts) that models a round trip of RTT ms, TCP and TLS handshakes included, and
// offers CHUNKING or not. Two shapes, each at every RTT and CHUNKING setting asked for:
// - messages: N single-recipient messages of about 2 KB over 100 recipient domains, queued
//   directly (as the loopback delivery run), delivered over verified TLS with DKIM;
// - bulk: one message to R recipients over the same 100 domains, POSTed over HTTP (the time
//   to 202 is reported: the issue wants it under a second), then delivered; recipients/s,
//   CPU per recipient and the sender's peak RSS.
// Postfix 3.7 reference figures from the issue are in BENCHMARKS.md, "At internet latency".

import {
  clearQueue,
  type DeliveryResult,
  queueMessages,
  RECIPIENT_DOMAINS,
  runDelivery,
  type SinkSettings,
  startSink,
} from './delivery.ts';
import { benchMime, SENDER_DOMAIN } from './mime.ts';
import type { BenchWorld } from './world.ts';

export type WanShape = 'messages' | 'bulk';

export interface WanSettings {
  /** Messages in the `messages` shape. */
  messages: number;
  /** Recipients of the `bulk` shape's one message. */
  recipients: number;
  rtts: number[];
  chunking: boolean[];
  shapes: WanShape[];
  limitMs: number;
  workerEnv: Record<string, string>;
}

export interface WanRun {
  shape: WanShape;
  sink: SinkSettings;
  delivery: DeliveryResult;
  /** bulk: seconds from sending POST /message over HTTP to its 202. */
  acceptSeconds?: number;
  /** bulk: RSS right before the POST, in bytes (after a GC when --expose-gc is on). */
  rssBefore?: number;
  /** bulk: highest RSS during the POST and the delivery, in bytes. */
  peakRss?: number;
}

export async function benchWan(
  w: BenchWorld,
  settings: WanSettings,
  log: (line: string) => void,
  label: string,
): Promise<WanRun[]> {
  const runs: WanRun[] = [];
  const url = await w.app.listen({ host: '127.0.0.1', port: 0 });
  // Warm-up on loopback (JIT, DNS and MTA-STS caches, DKIM keys); not counted.
  const warm = await startSink(w, { rttMs: 0, chunking: true });
  try {
    await queueMessages(w, 500, 'wan-warmup');
    await runDelivery(w, warm, 'warm-up', 500, settings.limitMs, settings.workerEnv);
    await clearQueue(w);
  } finally {
    warm.close();
  }
  let posted = 0;
  for (const rttMs of settings.rtts) {
    for (const chunking of settings.chunking) {
      const sinkSettings = { rttMs, chunking };
      const tag = `RTT ${rttMs} ms, CHUNKING ${chunking ? 'on' : 'off'}`;
      const sink = await startSink(w, sinkSettings);
      try {
        if (settings.shapes.includes('messages')) {
          const n = settings.messages;
          log(`[${label}] ${tag}: ${n} single-recipient messages ...`);
          await queueMessages(w, n, `wan-${rttMs}-${chunking}`);
          const d = await runDelivery(
            w,
            sink,
            `${n} messages`,
            n,
            settings.limitMs,
            settings.workerEnv,
          );
          await clearQueue(w);
          runs.push({ shape: 'messages', sink: sinkSettings, delivery: d });
          log(
            `[${label}] ${tag}: ${d.delivered}/${n} in ${d.seconds.toFixed(1)} s = ${d.perSecond.toFixed(0)} msg/s, ` +
              `${d.cpuMsPerMessage.toFixed(2)} ms sender CPU/msg, sink ${d.sinkCpuMsPerMessage.toFixed(3)} ms/msg, ` +
              `${d.connections} connections${d.timedOut ? ' (time limit)' : ''}`,
          );
        }
        if (settings.shapes.includes('bulk')) {
          const r = settings.recipients;
          log(`[${label}] ${tag}: one message to ${r} recipients ...`);
          collectGarbage();
          const rssBefore = process.memoryUsage.rss();
          let peakRss = rssBefore;
          const sampler = setInterval(() => {
            peakRss = Math.max(peakRss, process.memoryUsage.rss());
          }, 10);
          const acceptSeconds = await postBulk(w, url, r, posted++);
          const d = await runDelivery(
            w,
            sink,
            `1 message, ${r} recipients`,
            r,
            settings.limitMs,
            settings.workerEnv,
          );
          clearInterval(sampler);
          await clearQueue(w);
          peakRss = Math.max(peakRss, d.peakRss);
          runs.push({
            shape: 'bulk',
            sink: sinkSettings,
            delivery: d,
            acceptSeconds,
            rssBefore,
            peakRss,
          });
          log(
            `[${label}] ${tag}: 202 after ${acceptSeconds.toFixed(2)} s; ${d.recipients}/${r} recipients in ` +
              `${d.seconds.toFixed(1)} s = ${(d.recipients / d.seconds).toFixed(0)}/s ` +
              `(${d.delivered} transactions), ${cpuPerRecipient(d).toFixed(2)} ms CPU/recipient, ` +
              `RSS ${mb(rssBefore)} -> ${mb(peakRss)} MB${d.timedOut ? ' (time limit)' : ''}`,
          );
        }
      } finally {
        sink.close();
      }
    }
  }
  return runs;
}

/** Sender CPU per delivered recipient (CPU per message counts transactions). */
export function cpuPerRecipient(d: DeliveryResult): number {
  return (d.cpuMsPerMessage * Math.max(1, d.delivered)) / Math.max(1, d.recipients);
}

export function mb(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(0);
}

/** A full GC before a memory measurement, when the bench runs with --expose-gc (npm run bench does). */
function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
}

/** POST /message with `count` recipients over HTTP; seconds until the 202 arrived. */
async function postBulk(w: BenchWorld, url: string, count: number, n: number): Promise<number> {
  const body = JSON.stringify({
    sender: `news@${SENDER_DOMAIN}`,
    recipients: Array.from(
      { length: count },
      (_, i) => `wan${n}-${i}@d${i % RECIPIENT_DOMAINS}.test`,
    ),
    message: benchMime(2_000_000 + n),
  });
  const started = performance.now();
  const response = await fetch(new URL('/message', url), {
    method: 'POST',
    headers: { authorization: w.auth.authorization, 'content-type': 'application/json' },
    body,
  });
  const text = await response.text();
  const seconds = (performance.now() - started) / 1000;
  if (response.status !== 202) {
    throw new Error(`POST /message: ${response.status} ${text.slice(0, 300)}`);
  }
  return seconds;
}
