// The metrics, their documentation and the dashboard cannot drift apart: every metric the
// service registers has a row in docs/operations.md with its labels, every row names a
// registered metric, and every query of docs/grafana-dashboard.json uses registered ones.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import Fastify from 'fastify';
import { registerHttpMetrics } from '../../src/api/metrics.ts';
import { registerQueueMetrics } from '../../src/metrics/queue-metrics.ts';
import { createRegistry } from '../../src/metrics/registry.ts';
import { createServiceMetrics, registerRoles } from '../../src/metrics/service-metrics.ts';
import { openStore } from '../../src/store/database.ts';

const root = path.resolve(import.meta.dirname, '../..');

async function registered(): Promise<Map<string, string[]>> {
  const registry = createRegistry();
  createServiceMetrics(registry);
  registerRoles(registry, ['api']);
  const store = openStore({});
  registerQueueMetrics(registry, { db: store.db });
  const app = Fastify();
  registerHttpMetrics(app, registry);
  await app.close();
  await store.close();
  const metrics = new Map<string, string[]>();
  for (const metric of registry.getMetricsAsArray()) {
    const { name, labelNames } = metric as unknown as { name: string; labelNames: string[] };
    metrics.set(name, labelNames ?? []);
  }
  return metrics;
}

/** Our own metrics; prom-client's process and Node.js ones are one row together. */
const own = (name: string) =>
  !name.startsWith('securemail_process_') && !name.startsWith('securemail_nodejs_');

test('every metric has a row in docs/operations.md with its labels, and every row is a metric', async () => {
  const metrics = await registered();
  const doc = readFileSync(path.join(root, 'docs', 'operations.md'), 'utf8');
  const rows = new Map<string, string>();
  for (const match of doc.matchAll(/^\| `(securemail_[a-z_]+)` \| (\w+) \|([^|]*)\|/gm)) {
    rows.set(match[1]!, match[3]!);
  }
  const missing = [...metrics.keys()].filter((name) => own(name) && !rows.has(name));
  assert.deepEqual(missing, [], 'metrics without a row');
  const unknown = [...rows.keys()].filter((name) => !metrics.has(name));
  assert.deepEqual(unknown, [], 'rows without a metric');
  for (const [name, labels] of rows) {
    for (const label of metrics.get(name) ?? []) {
      assert.ok(labels.includes(`\`${label}\``), `${name}: label ${label} is not documented`);
    }
  }
  assert.match(doc, /`securemail_process_\*`, `securemail_nodejs_\*`/);
});

test('the Grafana dashboard queries only metrics the service registers', async () => {
  const metrics = await registered();
  const dashboard = JSON.parse(
    readFileSync(path.join(root, 'docs', 'grafana-dashboard.json'), 'utf8'),
  ) as { panels: { title: string; targets?: { expr: string }[] }[]; templating: unknown };
  const used = new Set<string>();
  for (const panel of dashboard.panels) {
    for (const target of panel.targets ?? []) {
      for (const m of target.expr.matchAll(/securemail_[a-z0-9_]+/g)) used.add(m[0]);
    }
  }
  const base = (name: string) => name.replace(/_(bucket|count|sum)$/, '');
  const unknown = [...used].filter((name) => !metrics.has(name) && !metrics.has(base(name)));
  assert.deepEqual(unknown, []);
  for (const name of [...metrics.keys()].filter(own)) {
    if (name.startsWith('securemail_http_')) continue;
    assert.ok(
      [...used].some((u) => base(u) === name),
      `${name} is on no panel of the dashboard`,
    );
  }
});
