// `securemail queue`: what waits for delivery, the first thing an operator asks when mail
// seems slow: how many recipients are queued, deferred and being tried now, the oldest
// deferred one and why, when the next retry is, and which destinations hold the most.

import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { openReadyStore } from '../service.ts';
import { queueSummary } from '../store/queue.repository.ts';
import { parseOrThrow } from './args.ts';
import {
  formatFields,
  formatTable,
  iso,
  isoOrDash,
  noPositionals,
  parseLimit,
  printJson,
  relative,
} from './output.ts';

export async function runQueueCommand(
  args: string[],
  config: Config,
  logger: Logger,
): Promise<number> {
  const { values, positionals } = parseOrThrow(args, {
    limit: { type: 'string' },
    json: { type: 'boolean' },
  });
  noPositionals(positionals, 'queue [--limit N] [--json]');
  const limit = parseLimit(values.limit, 20, 1000);
  const { store } = await openReadyStore(config, logger);
  try {
    const now = Date.now();
    const q = await queueSummary(store.db, now, limit);
    const oldest = q.oldestDeferred;
    const json = {
      queued: q.queued,
      deferred: q.deferred,
      in_flight: q.inFlight,
      due: q.due,
      oldest_deferred:
        oldest === null
          ? null
          : {
              recipient_id: oldest.recipientId,
              message_id: oldest.messageId,
              domain: oldest.domain,
              accepted_at: iso(oldest.acceptedAt),
              attempts: oldest.attempts,
              reason: oldest.reason,
              next_attempt_at: iso(oldest.nextAttemptAt),
            },
      next_retry_at: iso(q.nextAttemptAt),
      destination_count: q.destinationCount,
      destinations: q.destinations.map((d) => ({
        domain: d.domain,
        queued: d.queued,
        deferred: d.deferred,
        oldest_accepted_at: iso(d.oldestAcceptedAt),
        next_attempt_at: iso(d.nextAttemptAt),
        reason: d.reason,
      })),
    };
    if (values.json === true) {
      printJson(json);
      return 0;
    }
    if (q.queued + q.deferred === 0) {
      console.log('the queue is empty');
      return 0;
    }
    console.log(
      formatFields([
        ['queued', String(q.queued)],
        ['deferred', String(q.deferred)],
        ['being tried', String(q.inFlight)],
        ['due now', `${q.due}${q.due > q.inFlight ? ' (waiting for a worker)' : ''}`],
        [
          'oldest deferred',
          oldest === null
            ? '-'
            : `${oldest.domain}, accepted ${relative(oldest.acceptedAt, now)}, ${oldest.attempts} attempt(s), ` +
              `${oldest.reason ?? 'no reason'}, next ${when(oldest.nextAttemptAt, now)} ` +
              `(recipient ${oldest.recipientId} of message ${oldest.messageId})`,
        ],
        [
          'next retry',
          q.nextAttemptAt === null
            ? '-'
            : `${isoOrDash(q.nextAttemptAt)} (${relative(q.nextAttemptAt, now)})`,
        ],
      ]),
    );
    console.log('');
    console.log(
      formatTable(
        ['DESTINATION', 'QUEUED', 'DEFERRED', 'OLDEST', 'NEXT ATTEMPT', 'REASON'],
        q.destinations.map((d) => [
          d.domain,
          String(d.queued),
          String(d.deferred),
          relative(d.oldestAcceptedAt, now),
          when(d.nextAttemptAt, now),
          d.reason ?? '-',
        ]),
      ),
    );
    if (q.destinationCount > q.destinations.length)
      console.log(`(${q.destinationCount - q.destinations.length} more destinations; --limit N)`);
    return 0;
  } finally {
    await store.close();
  }
}

/** A next attempt time: `due` once it has come, else how long until it. */
function when(at: number, now: number): string {
  return at <= now ? 'due' : relative(at, now);
}
