// API accept rate: how fast POST /message answers 202 with the message durably committed.
// Through app.inject (the full Fastify pipeline: auth, schema, quota headers, the submit
// transaction), without the loopback socket, which would only add the same constant cost
// to every variant measured here.

import type { BenchWorld } from './world.ts';
import { benchMime, SENDER_DOMAIN } from './world.ts';

export interface ApiResult {
  singles: number;
  singlesSeconds: number;
  singlesPerSecond: number;
  cpuMsPerSingle: number;
  bulkRecipients: number;
  bulkSeconds: number;
  bulkRecipientsPerSecond: number;
}

/** Submissions in flight at once, as several API clients would have. */
const IN_FLIGHT = 16;

export async function benchApi(
  w: BenchWorld,
  singles = 2000,
  bulkRecipients = 10_000,
): Promise<ApiResult> {
  const bodies = Array.from({ length: singles }, (_, i) => ({
    sender: `news@${SENDER_DOMAIN}`,
    recipients: [`r${i}@d${i % 100}.test`],
    message: benchMime(i),
  }));
  // Warm up (JIT, statement cache) with a few messages not counted.
  for (let i = 0; i < 20; i++) await submit(w, { ...bodies[i]!, message: benchMime(-1 - i) });

  let next = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      for (let i = next++; i < singles; i = next++) await submit(w, bodies[i]!);
    }),
  );
  const singlesSeconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);

  const bulk = {
    sender: `news@${SENDER_DOMAIN}`,
    recipients: Array.from({ length: bulkRecipients }, (_, i) => `b${i}@d${i % 100}.test`),
    message: benchMime(1_000_000),
  };
  const bulkStarted = performance.now();
  await submit(w, bulk);
  const bulkSeconds = (performance.now() - bulkStarted) / 1000;

  return {
    singles,
    singlesSeconds,
    singlesPerSecond: singles / singlesSeconds,
    cpuMsPerSingle: (used.user + used.system) / 1000 / singles,
    bulkRecipients,
    bulkSeconds,
    bulkRecipientsPerSecond: bulkRecipients / bulkSeconds,
  };
}

async function submit(w: BenchWorld, payload: Record<string, unknown>): Promise<void> {
  const response = await w.app.inject({
    method: 'POST',
    url: '/message',
    headers: w.auth,
    payload,
  });
  if (response.statusCode !== 202) {
    throw new Error(`POST /message: ${response.statusCode} ${response.body.slice(0, 300)}`);
  }
}
