// The one Prometheus registry of a process. Every role of the process (api, worker, mx)
// registers its metrics here, and /metrics (the api role) or the metrics port
// (SECUREMAIL_METRICS_PORT, for processes without it) serve it. Each registry is its own,
// never prom-client's global one, so that several apps or worlds in one test process do
// not share counters.

import { collectDefaultMetrics, Registry } from 'prom-client';

export type { Registry };

/** A registry with the process metrics (CPU, memory, event loop lag) as `securemail_*`. */
export function createRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'securemail_' });
  return registry;
}
