// What the fault tests share: a world whose clock follows the real one (suspensions, retry
// times and leases then pass as they would in service), a probe of the event loop's delay,
// and the recipients' states read from the store.

import { sql } from 'kysely';
import type { Store } from '../../src/store/database.ts';
import { START, type World } from '../delivery/support.ts';

/** Makes `w`'s clock run with the real one from now on (from START). */
export function realTime(w: World): void {
  const t0 = Date.now();
  Object.defineProperty(w.clock, 'now', {
    get: () => START + (Date.now() - t0),
    set: () => {},
    configurable: true,
  });
}

/** The longest the event loop was late for a 20 ms timer since start(). */
export function loopProbe(): { stop(): number } {
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const t = performance.now();
    worst = Math.max(worst, t - last - 20);
    last = t;
  }, 20);
  return {
    stop() {
      clearInterval(timer);
      return worst;
    },
  };
}

export function users(n: number, domain: string, prefix = 'u'): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i}@${domain}`);
}

export { sendMessage as submit } from '../delivery/support.ts';

/** Recipients per status, over all messages. */
export async function statuses(store: Store): Promise<Map<string, number>> {
  const rows = await store.db
    .selectFrom('recipients')
    .select(['status', sql<number>`count(*)`.as('n')])
    .groupBy('status')
    .execute();
  return new Map(rows.map((r) => [r.status, Number(r.n)]));
}

/** Per address: its status and attempts. */
export async function byAddress(
  store: Store,
): Promise<
  Map<string, { status: string; attempts: number; reason: string | null; detail: string | null }>
> {
  const rows = await store.db
    .selectFrom('recipients')
    .select(['address', 'status', 'attempts', 'reason', 'detail'])
    .execute();
  return new Map(
    rows.map((r) => [
      r.address,
      { status: r.status, attempts: Number(r.attempts), reason: r.reason, detail: r.detail },
    ]),
  );
}

export async function until(
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  what: () => string | Promise<string>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${await what()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
