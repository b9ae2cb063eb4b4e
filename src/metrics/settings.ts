// Where a process without the api role serves its metrics: the worker and mx processes of a
// multi-process deployment have no HTTP API, so their /metrics needs a listener of its own.

import { integer, text } from '../settings.ts';

export const METRICS_SETTINGS = {
  metricsPort: integer('SECUREMAIL_METRICS_PORT', {
    default: 0,
    min: 0,
    max: 65535,
    doc: 'Port of a listener that serves only `GET /metrics`',
  }),
  metricsHost: text('SECUREMAIL_METRICS_HOST', {
    default: '127.0.0.1',
    doc: 'Address that metrics listener binds to.',
  }),
};

export interface MetricsSettings {
  /** 0: no listener of its own (the api role serves /metrics with the API). */
  metricsPort: number;
  metricsHost: string;
}
