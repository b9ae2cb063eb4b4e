// npm run bench: the benchmarks of issues 5 and 11, printed and written into BENCHMARKS.md
// between the result markers (the notes around them are kept): the loopback parts into the
// "Latest run" block, the WAN part into the "At internet latency" block, each only when it
// ran. Loopback by default; each delivery run is bounded in time, so the default run takes
// a few minutes. The WAN part runs only when named (BENCH_ONLY=wan): at 50 ms a run is
// bounded by round trips, not CPU, and takes minutes per shape.
//
// Environment (all optional):
//   TEST_DATABASE_URL / DATABASE_URL  also run on PostgreSQL (a schema of its own, dropped)
//   BENCH_MESSAGES    messages in the main delivery run (default 20000)
//   BENCH_HISTORY     final recipients for the "1M queued" run (default 1000000)
//   BENCH_LIMIT_S     time limit of one delivery run in seconds (default 90; WAN part 300:
//                     20,000 messages at 50 ms take about 10 s now, 2 minutes before issue 11)
//   BENCH_CONCURRENCY, BENCH_BATCH   worker settings (defaults: the configuration's); any
//                     other SECUREMAIL_* setting in the environment reaches the worker too,
//                     except the ones the bench sets itself (RESERVED below)
//   BENCH_ONLY        comma list of api,delivery,e2e,queue-size,postgres (default: all of
//                     them) and wan (both WAN shapes), wan-messages, wan-bulk
//   BENCH_WAN_MESSAGES     messages of the WAN `messages` shape (default 20000)
//   BENCH_WAN_RECIPIENTS   recipients of the WAN `bulk` shape's one message (default 10000)
//   BENCH_RTT_MS      comma list of round-trip times the WAN part runs at (default 0,50)
//   BENCH_CHUNKING    1 or 0: the sink offers CHUNKING (RFC 3030) or not; the WAN part runs
//                     both by default, the loopback parts offer it (as Postfix 3.4+ does)

import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { type Kysely, sql } from 'kysely';
import type { Database } from '../src/store/schema.ts';
import { type ApiResult, benchApi } from './api.ts';
import {
  addBulkRecipients,
  claimPlan,
  clearQueue,
  type DeliveryResult,
  queueMessages,
  RECIPIENT_DOMAINS,
  runDelivery,
  startSink,
} from './delivery.ts';
import { type EndToEndResult, runEndToEnd } from './end-to-end.ts';
import { benchWan, cpuPerRecipient, mb, type WanRun, type WanShape } from './wan.ts';
import { openBenchStore, startBenchWorld } from './world.ts';

const MARK_START = '<!-- results:start -->';
const MARK_END = '<!-- results:end -->';
const WAN_START = '<!-- wan-results:start -->';
const WAN_END = '<!-- wan-results:end -->';
const LOOPBACK_PARTS = ['api', 'delivery', 'e2e', 'queue-size', 'postgres'];
/** Settings the bench sets for its own world; the environment does not override them. */
const RESERVED = new Set([
  'SECUREMAIL_SMTP_PORT',
  'SECUREMAIL_MX_ALLOW_NETWORKS',
  'SECUREMAIL_DNS_SERVERS',
  'SECUREMAIL_DATA_DIR',
]);

const env = process.env;
const postgresUrl = env.TEST_DATABASE_URL ?? env.DATABASE_URL;
const messages = Number(env.BENCH_MESSAGES ?? 20_000);
const history = Number(env.BENCH_HISTORY ?? 1_000_000);
const limitMs = 1000 * Number(env.BENCH_LIMIT_S ?? 90);
const wanLimitMs = 1000 * Number(env.BENCH_LIMIT_S ?? 300);
const only = env.BENCH_ONLY ? new Set(env.BENCH_ONLY.split(',')) : undefined;
const wants = (part: string) =>
  only === undefined ? LOOPBACK_PARTS.includes(part) : only.has(part);
const wanShapes: WanShape[] = [
  ...(wants('wan') || wants('wan-messages') ? (['messages'] as const) : []),
  ...(wants('wan') || wants('wan-bulk') ? (['bulk'] as const) : []),
];
const chunkingFlag = env.BENCH_CHUNKING;
if (chunkingFlag !== undefined && chunkingFlag !== '0' && chunkingFlag !== '1') {
  throw new Error('BENCH_CHUNKING is 0 or 1');
}
const wanSettings = {
  messages: Number(env.BENCH_WAN_MESSAGES ?? 20_000),
  recipients: Number(env.BENCH_WAN_RECIPIENTS ?? 10_000),
  rtts: (env.BENCH_RTT_MS ?? '0,50').split(',').map(Number),
  chunking: chunkingFlag === undefined ? [true, false] : [chunkingFlag === '1'],
};
if (wanSettings.rtts.some((rtt) => !(rtt >= 0))) throw new Error('BENCH_RTT_MS: numbers >= 0');
const sinkSettings = { rttMs: 0, chunking: chunkingFlag !== '0' };
const workerEnv: Record<string, string> = {
  ...Object.fromEntries(
    Object.entries(env).filter(
      (e): e is [string, string] =>
        e[0].startsWith('SECUREMAIL_') && !RESERVED.has(e[0]) && e[1] !== undefined,
    ),
  ),
  ...(env.BENCH_CONCURRENCY ? { SECUREMAIL_WORKER_CONCURRENCY: env.BENCH_CONCURRENCY } : {}),
  ...(env.BENCH_BATCH ? { SECUREMAIL_WORKER_BATCH: env.BENCH_BATCH } : {}),
};

const log = (line: string) => process.stdout.write(`${line}\n`);

interface Section {
  dialect: string;
  version: string;
  api?: ApiResult;
  wan: WanRun[];
  deliveries: DeliveryResult[];
  endToEnd?: EndToEndResult;
  plans: Array<{ label: string; plan: string; ms: number }>;
}

async function benchDialect(dialect: 'sqlite' | 'postgres'): Promise<Section> {
  const section: Section = { dialect, version: '', deliveries: [], plans: [], wan: [] };
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
  if (wanShapes.length > 0) {
    // A store and world of their own, so the bulk message and the queued runs of the other
    // parts do not mix; the recipient limit follows the bulk shape.
    const bench = await openBenchStore(dialect, postgresUrl);
    const w = await startBenchWorld(bench.store, {
      SECUREMAIL_MAX_RECIPIENTS: String(Math.max(10_000, wanSettings.recipients)),
    });
    section.version ||= await versionOf(bench.store.db, dialect);
    try {
      section.wan = await benchWan(
        w,
        { ...wanSettings, shapes: wanShapes, limitMs: wanLimitMs, workerEnv },
        log,
        dialect,
      );
    } finally {
      await w.close();
      await bench.close();
    }
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
  const sink = await startSink(w, sinkSettings);
  try {
    const record = (r: DeliveryResult) => {
      section.deliveries.push(r);
      log(
        `[${dialect}] ${r.label}: ${r.delivered}/${r.queued} delivered in ${r.seconds.toFixed(1)} s = ` +
          `${r.perSecond.toFixed(0)} msg/s, ${r.cpuMsPerMessage.toFixed(2)} ms CPU/msg, ` +
          `${r.connections} TLS connections, ${r.claims} claims${r.timedOut ? ' (time limit)' : ''}`,
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
      '| store | run | delivered | seconds | msg/s | sender CPU ms/msg | sink CPU ms/msg | TLS connections |',
      '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const { s, d } of runs) {
      lines.push(
        `| ${s.dialect} | ${d.label} | ${d.delivered}/${d.queued}${d.timedOut ? ' (time limit)' : ''} | ${d.seconds.toFixed(1)} | ${d.perSecond.toFixed(0)} | ${d.cpuMsPerMessage.toFixed(2)} | ${d.sinkCpuMsPerMessage.toFixed(3)} | ${d.connections} |`,
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

function renderWan(sections: Section[], options: string): string {
  const lines = [WAN_START, '', '### Latest WAN run', '', machine()];
  lines.push(
    `- Load average (1 min) when the WAN part began / ended: ${loadAtStart.toFixed(1)} / ${loadavg()[0]!.toFixed(1)} ` +
      '(the run itself adds 1-2; more is other work on the machine, which makes CPU per message read high and CPU-bound rates low)',
  );
  for (const s of sections)
    lines.push(`- ${s.dialect === 'sqlite' ? 'SQLite' : 'PostgreSQL'}: ${s.version}`);
  lines.push(`- Settings: ${options}`, '');
  const rtt = (r: WanRun) => `${r.sink.rttMs} ms`;
  const chunking = (r: WanRun) => (r.sink.chunking ? 'on' : 'off');
  const singles = sections.flatMap((s) =>
    s.wan.filter((r) => r.shape === 'messages').map((r) => ({ s, r })),
  );
  if (singles.length > 0) {
    lines.push(
      `#### ${singles[0]!.r.delivery.queued} single-recipient messages of about 2 KB, ${RECIPIENT_DOMAINS} recipient domains`,
      '',
      '| store | RTT | CHUNKING offered | delivered | via BDAT | seconds | msg/s | sender CPU ms/msg | sink CPU ms/msg | TLS connections |',
      '| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const { s, r } of singles) {
      const d = r.delivery;
      lines.push(
        `| ${s.dialect} | ${rtt(r)} | ${chunking(r)} | ${d.delivered}/${d.queued}${d.timedOut ? ' (time limit)' : ''} | ${d.chunked} | ${d.seconds.toFixed(1)} | **${d.perSecond.toFixed(0)}** | ${d.cpuMsPerMessage.toFixed(2)} | ${d.sinkCpuMsPerMessage.toFixed(3)} | ${d.connections} |`,
      );
    }
    lines.push('');
  }
  const bulks = sections.flatMap((s) =>
    s.wan.filter((r) => r.shape === 'bulk').map((r) => ({ s, r })),
  );
  if (bulks.length > 0) {
    lines.push(
      `#### One message to ${bulks[0]!.r.delivery.queued} recipients over ${RECIPIENT_DOMAINS} domains`,
      '',
      '| store | RTT | CHUNKING offered | POST /message over HTTP to 202 | recipients delivered | transactions (via BDAT) | seconds | recipients/s | sender CPU ms/recipient | sender RSS before / peak |',
      '| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const { s, r } of bulks) {
      const d = r.delivery;
      lines.push(
        `| ${s.dialect} | ${rtt(r)} | ${chunking(r)} | ${r.acceptSeconds!.toFixed(2)} s | ${d.recipients}/${d.queued}${d.timedOut ? ' (time limit)' : ''} | ${d.delivered} (${d.chunked}) | ${d.seconds.toFixed(1)} | **${(d.recipients / d.seconds).toFixed(0)}** | ${cpuPerRecipient(d).toFixed(2)} | ${mb(r.rssBefore!)} / ${mb(r.peakRss!)} MB |`,
      );
    }
    lines.push('');
  }
  lines.push(WAN_END);
  return lines.join('\n');
}

/** `text` with the block between `startMark` and `endMark` replaced (appended when missing). */
function replaceBlock(text: string, startMark: string, endMark: string, block: string): string {
  const start = text.indexOf(startMark);
  const end = text.indexOf(endMark);
  return start >= 0 && end > start
    ? text.slice(0, start) + block + text.slice(end + endMark.length)
    : `${text}\n${block}\n`;
}

const loopback = LOOPBACK_PARTS.some(wants);
const loadAtStart = loadavg()[0]!;
const sections: Section[] = [await benchDialect('sqlite')];
if (
  postgresUrl !== undefined &&
  (wants('api') || wants('postgres') || wants('e2e') || wanShapes.length > 0)
) {
  sections.push(await benchDialect('postgres'));
}
const workerOptions = Object.keys(workerEnv).length
  ? `, ${JSON.stringify(workerEnv)}`
  : ', worker defaults';
const file = new URL('../BENCHMARKS.md', import.meta.url);
let text: string;
try {
  text = readFileSync(file, 'utf8');
} catch {
  text = `# Benchmarks\n\n${MARK_START}\n${MARK_END}\n`;
}
if (loopback) {
  const options =
    `${messages} messages, ${history} history rows, limit ${limitMs / 1000} s per run` +
    `, sink CHUNKING ${sinkSettings.chunking ? 'on' : 'off'}${workerOptions}`;
  text = replaceBlock(text, MARK_START, MARK_END, render(sections, options));
}
if (wanShapes.length > 0) {
  const options =
    `${wanSettings.messages} messages (messages shape), ${wanSettings.recipients} recipients (bulk shape), ` +
    `RTT ${wanSettings.rtts.join(' and ')} ms, limit ${wanLimitMs / 1000} s per run${workerOptions}` +
    `${(globalThis as { gc?: unknown }).gc ? '' : ', without --expose-gc'}`;
  const block = renderWan(sections, options);
  log(`\n${block}`);
  text = replaceBlock(text, WAN_START, WAN_END, block);
}
writeFileSync(file, text);
log('\nBENCHMARKS.md updated.');
process.exit(0);
