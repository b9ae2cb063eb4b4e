// npm run bench: the benchmarks of issue 5, printed and written into BENCHMARKS.md between
// the result markers (the notes around them are kept). Loopback only; each delivery run is
// bounded in time, so the whole run takes a few minutes.
//
// Environment (all optional):
//   TEST_DATABASE_URL / DATABASE_URL  also run on PostgreSQL (a schema of its own, dropped)
//   BENCH_MESSAGES    messages in the main delivery run (default 20000)
//   BENCH_HISTORY     final recipients for the "1M queued" run (default 1000000)
//   BENCH_LIMIT_S     time limit of one delivery run in seconds (default 90)
//   BENCH_CONCURRENCY, BENCH_BATCH   worker settings (defaults: the configuration's)
//   BENCH_ONLY        comma list of api,delivery,e2e,queue-size,postgres to run a subset

import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { type Kysely, sql } from 'kysely';
import type { Database } from '../src/store/schema.ts';
import { type ApiResult, benchApi } from './api.ts';
import {
  addBulkRecipients,
  claimPlan,
  clearQueue,
  type DeliveryResult,
  queueMessages,
  runDelivery,
  startSink,
} from './delivery.ts';
import { type EndToEndResult, runEndToEnd } from './end-to-end.ts';
import { openBenchStore, startBenchWorld } from './world.ts';

const MARK_START = '<!-- results:start -->';
const MARK_END = '<!-- results:end -->';

const env = process.env;
const postgresUrl = env.TEST_DATABASE_URL ?? env.DATABASE_URL;
const messages = Number(env.BENCH_MESSAGES ?? 20_000);
const history = Number(env.BENCH_HISTORY ?? 1_000_000);
const limitMs = 1000 * Number(env.BENCH_LIMIT_S ?? 90);
const only = env.BENCH_ONLY ? new Set(env.BENCH_ONLY.split(',')) : undefined;
const wants = (part: string) => only === undefined || only.has(part);
const workerEnv: Record<string, string> = {
  ...(env.BENCH_CONCURRENCY ? { SECUREMAIL_WORKER_CONCURRENCY: env.BENCH_CONCURRENCY } : {}),
  ...(env.BENCH_BATCH ? { SECUREMAIL_WORKER_BATCH: env.BENCH_BATCH } : {}),
};

const log = (line: string) => process.stdout.write(`${line}\n`);

interface Section {
  dialect: string;
  version: string;
  api?: ApiResult;
  deliveries: DeliveryResult[];
  endToEnd?: EndToEndResult;
  plans: Array<{ label: string; plan: string; ms: number }>;
}

async function benchDialect(dialect: 'sqlite' | 'postgres'): Promise<Section> {
  const section: Section = { dialect, version: '', deliveries: [], plans: [] };
  const deliveryParts = dialect === 'sqlite' || wants('postgres');
  if (wants('api')) {
    const bench = await openBenchStore(dialect, postgresUrl);
    const w = await startBenchWorld(bench.store);
    section.version = await versionOf(bench.store.db, dialect);
    log(`[${dialect}] API accept rate ...`);
    section.api = await benchApi(w);
    const a = section.api;
    log(
      `[${dialect}] ${a.singles} single-recipient messages: ${a.singlesPerSecond.toFixed(0)}/s, ` +
        `${a.cpuMsPerSingle.toFixed(2)} ms CPU each; ${a.bulkRecipients} recipients: ${a.bulkSeconds.toFixed(2)} s to 202`,
    );
    await w.close();
    await bench.close();
  }
  if (
    !deliveryParts ||
    !(wants('delivery') || wants('e2e') || wants('queue-size') || wants('postgres'))
  ) {
    return section;
  }

  const bench = await openBenchStore(dialect, postgresUrl);
  const w = await startBenchWorld(bench.store);
  section.version ||= await versionOf(bench.store.db, dialect);
  const sink = await startSink(w);
  try {
    const record = (r: DeliveryResult) => {
      section.deliveries.push(r);
      log(
        `[${dialect}] ${r.label}: ${r.delivered}/${r.queued} delivered in ${r.seconds.toFixed(1)} s = ` +
          `${r.perSecond.toFixed(0)} msg/s, ${r.cpuMsPerMessage.toFixed(2)} ms CPU/msg, ` +
          `${r.connections} TLS connections, ${r.rounds} rounds${r.timedOut ? ' (time limit)' : ''}`,
      );
    };
    let warm = false;
    // Warm-up: JIT, DNS and MTA-STS caches, DKIM keys; not counted.
    const warmUp = async () => {
      if (warm) return;
      warm = true;
      await queueMessages(w, 500, 'warmup');
      await runDelivery(w, sink, 'warm-up', 500, limitMs, workerEnv);
      await clearQueue(w);
    };
    if (wants('delivery') || (dialect === 'postgres' && wants('postgres'))) {
      await warmUp();
      const count = dialect === 'sqlite' ? messages : Math.min(messages, 10_000);
      log(`[${dialect}] delivering ${count} messages over 100 domains ...`);
      await queueMessages(w, count, 'main');
      record(
        await runDelivery(w, sink, `${count} messages, 100 domains`, count, limitMs, workerEnv),
      );
      await clearQueue(w);
    }
    if (wants('e2e')) {
      await warmUp();
      const count = dialect === 'sqlite' ? messages : Math.min(messages, 10_000);
      log(`[${dialect}] accepting and delivering ${count} messages (acceptance included) ...`);
      const e = await runEndToEnd(w, sink, count, limitMs, workerEnv);
      section.endToEnd = e;
      log(
        `[${dialect}] end to end: ${e.delivered}/${e.messages} accepted and delivered in ` +
          `${e.seconds.toFixed(1)} s = ${e.perSecond.toFixed(0)} msg/s, ` +
          `${e.cpuMsPerMessage.toFixed(2)} ms CPU/msg${e.timedOut ? ' (time limit)' : ''}`,
      );
      await clearQueue(w);
    }
    if (dialect === 'sqlite' && wants('queue-size')) {
      const due = 10_000;
      log(`[${dialect}] CPU per message with ${due} queued ...`);
      await queueMessages(w, due, 'q10k');
      section.plans.push({ label: `${due} queued`, ...(await claimPlan(w)) });
      record(await runDelivery(w, sink, `${due} queued`, due, limitMs, workerEnv));
      await clearQueue(w);
      log(`[${dialect}] adding ${history} final recipients ...`);
      const loadStart = performance.now();
      await addBulkRecipients(w, bench, history, 'final');
      log(`[${dialect}] loaded in ${((performance.now() - loadStart) / 1000).toFixed(1)} s`);
      await queueMessages(w, due, 'q1m');
      section.plans.push({ label: `${history + due} rows`, ...(await claimPlan(w)) });
      record(
        await runDelivery(
          w,
          sink,
          `${due} due among ${history + due} recipients`,
          due,
          limitMs,
          workerEnv,
        ),
      );
      log(`[${dialect}] adding ${history} recipients waiting (deferred until tomorrow) ...`);
      await addBulkRecipients(w, bench, history, 'waiting');
      await queueMessages(w, due, 'q1mw');
      section.plans.push({
        label: `${due} due, ${history} waiting, ${history} final`,
        ...(await claimPlan(w)),
      });
      record(
        await runDelivery(
          w,
          sink,
          `${due} due with ${history} more queued, not yet due`,
          due,
          limitMs,
          workerEnv,
        ),
      );
    }
  } finally {
    sink.close();
    await w.close();
    await bench.close();
  }
  return section;
}

async function versionOf(db: Kysely<Database>, dialect: string): Promise<string> {
  const query =
    dialect === 'sqlite'
      ? sql<{ v: string }>`select sqlite_version() as v`
      : sql<{ v: string }>`show server_version`;
  const result = await query.execute(db);
  const row = result.rows[0] as Record<string, string> | undefined;
  return row ? String(Object.values(row)[0]) : 'unknown';
}

function machine(): string {
  const cpu = cpus();
  return [
    `- Date: ${new Date().toISOString()}`,
    `- CPU: ${cpu[0]?.model ?? 'unknown'}, ${cpu.length} cores`,
    `- Memory: ${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `- Node: ${process.version} (${process.platform} ${process.arch})`,
  ].join('\n');
}

function render(sections: Section[], options: string): string {
  const lines = [MARK_START, '', '## Latest run', '', machine()];
  for (const s of sections)
    lines.push(`- ${s.dialect === 'sqlite' ? 'SQLite' : 'PostgreSQL'}: ${s.version}`);
  lines.push(`- Settings: ${options}`, '');
  const apis = sections.filter((s) => s.api);
  if (apis.length > 0) {
    lines.push(
      '### API accept rate (durable commits)',
      '',
      '| store | single-recipient messages | msg/s | CPU ms/msg | 10,000-recipient message: time to 202 |',
      '| --- | ---: | ---: | ---: | ---: |',
    );
    for (const s of apis) {
      const a = s.api!;
      lines.push(
        `| ${s.dialect} | ${a.singles} | ${a.singlesPerSecond.toFixed(0)} | ${a.cpuMsPerSingle.toFixed(2)} | ${a.bulkSeconds.toFixed(2)} s (${a.bulkRecipientsPerSecond.toFixed(0)} recipients/s) |`,
      );
    }
    lines.push('');
  }
  const runs = sections.flatMap((s) => s.deliveries.map((d) => ({ s, d })));
  if (runs.length > 0) {
    lines.push(
      '### Delivery (verified TLS, DKIM RSA-2048 + Ed25519, one sink host for 100 domains)',
      '',
      '| store | run | delivered | seconds | msg/s | sender CPU ms/msg | TLS connections |',
      '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const { s, d } of runs) {
      lines.push(
        `| ${s.dialect} | ${d.label} | ${d.delivered}/${d.queued}${d.timedOut ? ' (time limit)' : ''} | ${d.seconds.toFixed(1)} | ${d.perSecond.toFixed(0)} | ${d.cpuMsPerMessage.toFixed(2)} | ${d.connections} |`,
      );
    }
    lines.push('');
  }
  const ends = sections.filter((s) => s.endToEnd);
  if (ends.length > 0) {
    lines.push(
      '### End to end, acceptance included (POST /message while the worker delivers, one process)',
      '',
      '| store | messages | accepted and delivered | seconds | msg/s | sender CPU ms/msg |',
      '| --- | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const s of ends) {
      const e = s.endToEnd!;
      lines.push(
        `| ${s.dialect} | ${e.messages} | ${e.delivered}${e.timedOut ? ' (time limit)' : ''} | ${e.seconds.toFixed(1)} | ${e.perSecond.toFixed(0)} | ${e.cpuMsPerMessage.toFixed(2)} |`,
      );
    }
    lines.push('');
  }
  const plans = sections.flatMap((s) => s.plans.map((p) => ({ s, p })));
  if (plans.length > 0) {
    lines.push(
      '### Claim query plan',
      '',
      '| store | queue | plan | ms per claim query |',
      '| --- | --- | --- | ---: |',
    );
    for (const { s, p } of plans) {
      lines.push(
        `| ${s.dialect} | ${p.label} | \`${p.plan.replace(/\|/g, '/')}\` | ${p.ms.toFixed(2)} |`,
      );
    }
    lines.push('');
  }
  lines.push(MARK_END);
  return lines.join('\n');
}

const sections: Section[] = [await benchDialect('sqlite')];
if (postgresUrl !== undefined && (wants('api') || wants('postgres') || wants('e2e'))) {
  sections.push(await benchDialect('postgres'));
}
const options =
  `${messages} messages, ${history} history rows, limit ${limitMs / 1000} s per run` +
  (Object.keys(workerEnv).length ? `, ${JSON.stringify(workerEnv)}` : ', worker defaults');
const block = render(sections, options);
const file = new URL('../BENCHMARKS.md', import.meta.url);
let text: string;
try {
  text = readFileSync(file, 'utf8');
} catch {
  text = `# Benchmarks\n\n${MARK_START}\n${MARK_END}\n`;
}
const start = text.indexOf(MARK_START);
const end = text.indexOf(MARK_END);
text =
  start >= 0 && end > start
    ? text.slice(0, start) + block + text.slice(end + MARK_END.length)
    : `${text}\n${block}\n`;
writeFileSync(file, text);
log('\nBENCHMARKS.md updated.');
process.exit(0);
