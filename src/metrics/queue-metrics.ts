// Queue depth as gauges, read from the database when Prometheus scrapes, not counted in the
// process: recipients are queued by every API process and finished by every worker, so only
// the database knows how many wait. The counts read the partial index `recipients_due` only
// (src/store/queue.repository.ts: 7.7 ms for 300,000 open recipients on SQLite) and are
// kept for a few seconds, so scrapes from several Prometheus servers cost one query.
//
// Every process with a store reports the same numbers: a dashboard takes max(), not sum().

import { Gauge, type Registry } from 'prom-client';
import type { Db } from '../store/database.ts';
import { type QueueDepth, queueDepth } from '../store/queue.repository.ts';

/** How long one reading of the queue serves scrapes. */
export const QUEUE_CACHE_MS = 5000;

export interface QueueMetricsDeps {
  db: Db;
  now?: () => number;
  cacheMs?: number;
}

export function registerQueueMetrics(registry: Registry, deps: QueueMetricsDeps): void {
  const now = deps.now ?? Date.now;
  const cacheMs = deps.cacheMs ?? QUEUE_CACHE_MS;
  let reading: { at: number; depth: Promise<QueueDepth> } | undefined;
  const read = (): Promise<QueueDepth> => {
    const t = now();
    if (reading === undefined || t - reading.at >= cacheMs) {
      const depth = queueDepth(deps.db, t);
      reading = { at: t, depth };
      // A failed reading is not kept: the next scrape asks again.
      depth.catch(() => {
        if (reading?.depth === depth) reading = undefined;
      });
    }
    return reading.depth;
  };

  new Gauge({
    name: 'securemail_queue_recipients',
    help:
      'Recipients waiting for delivery (queued or deferred), by state: due (their attempt is due: ' +
      'waiting for a worker or being tried) or scheduled (deferred until a later retry).',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      // A database that does not answer leaves the last values (/readyz says it is down).
      const depth = await read().catch(() => undefined);
      if (depth === undefined) return;
      this.set({ state: 'due' }, depth.due);
      this.set({ state: 'scheduled' }, depth.open - depth.due);
    },
  });
  new Gauge({
    name: 'securemail_queue_oldest_due_seconds',
    help:
      'How long the longest-waiting due recipient has waited past its due time (0 when none is ' +
      'due): grows when the workers fall behind.',
    registers: [registry],
    async collect() {
      const depth = await read().catch(() => undefined);
      if (depth === undefined) return;
      const t = now();
      this.set(
        depth.oldestDueAt === null || depth.oldestDueAt > t ? 0 : (t - depth.oldestDueAt) / 1000,
      );
    },
  });
}
