// The books at the end of a fault: every recipient the API accepted (202) must be in the
// database in exactly one final state, every `delivered` one must be at the sink at least
// once, and copies beyond one per recipient are counted as duplicates. Recipients are told
// apart at the sink by their address, which is unique in a run (m<message>r<k>.<tag>@dN.test).
// Read from the database directly, as an operator's `securemail messages` would.

import type { Store } from '../../src/store/database.ts';
import { FINAL_STATUSES, type RecipientStatus } from '../../src/vocabulary/recipient-statuses.ts';
import type { Accepted } from './submit.ts';
import { sleep } from './wait.ts';

export interface Ledger {
  /** Recipients accepted with 202. */
  accepted: number;
  /** Accepted recipients not in a final state (or not in the database at all). */
  open: number;
  /** Recipients per status, over the accepted ones found. */
  statuses: Partial<Record<RecipientStatus, number>>;
  /** Final `delivered`, yet never at the sink. */
  absentAtSink: number;
  /** Copies at the sink beyond one per accepted recipient. */
  duplicated: number;
  /** open + absentAtSink. */
  lost: number;
  /** Messages answered 202 that are not stored with every recipient they were accepted with. */
  falseAccepts: number;
  /** What is not final, for the person reading a failure. */
  stuck: string;
}

interface Row {
  message_id: string;
  address: string;
  status: RecipientStatus;
  lease_owner: string | null;
  lease_until: number | null;
  next_attempt_at: number;
  attempts: number;
}

const CHUNK = 200;

export async function readLedger(
  store: Store,
  accepted: readonly Accepted[],
  received: ReadonlyMap<string, number>,
): Promise<Ledger> {
  const rows = new Map<string, Row>();
  const messageIds = new Set<string>();
  for (let i = 0; i < accepted.length; i += CHUNK) {
    const ids = accepted.slice(i, i + CHUNK).map((a) => a.id);
    const found = await store.db
      .selectFrom('recipients')
      .select([
        'message_id',
        'address',
        'status',
        'lease_owner',
        'lease_until',
        'next_attempt_at',
        'attempts',
      ])
      .where('message_id', 'in', ids)
      .execute();
    for (const r of found) rows.set(`${r.message_id} ${r.address}`, r as Row);
    const messages = await store.db
      .selectFrom('messages')
      .select('id')
      .where('id', 'in', ids)
      .execute();
    for (const m of messages) messageIds.add(m.id);
  }
  const statuses: Partial<Record<RecipientStatus, number>> = {};
  let total = 0;
  let open = 0;
  let absentAtSink = 0;
  let duplicated = 0;
  let falseAccepts = 0;
  const openRows: Row[] = [];
  let missing = 0;
  for (const message of accepted) {
    let complete = messageIds.has(message.id);
    for (const address of message.recipients) {
      total++;
      const copies = received.get(address) ?? 0;
      duplicated += Math.max(0, copies - 1);
      const row = rows.get(`${message.id} ${address}`);
      if (row === undefined) {
        complete = false;
        missing++;
        open++;
        continue;
      }
      statuses[row.status] = (statuses[row.status] ?? 0) + 1;
      if (!FINAL_STATUSES.includes(row.status)) {
        open++;
        openRows.push(row);
      } else if (row.status === 'delivered' && copies === 0) {
        absentAtSink++;
      }
    }
    if (!complete) falseAccepts++;
  }
  return {
    accepted: total,
    open,
    statuses,
    absentAtSink,
    duplicated,
    lost: open + absentAtSink,
    falseAccepts,
    stuck: describeOpen(openRows, missing),
  };
}

function describeOpen(rows: Row[], missing: number): string {
  if (rows.length === 0 && missing === 0) return 'nothing open';
  const now = Date.now();
  const parts: string[] = [];
  if (missing > 0) parts.push(`${missing} accepted but not in the database`);
  const byStatus = new Map<string, number>();
  const owners = new Set<string>();
  let leased = 0;
  let leaseLeft = 0;
  let dueIn = Number.POSITIVE_INFINITY;
  for (const r of rows) {
    byStatus.set(r.status, (byStatus.get(r.status) ?? 0) + 1);
    if (r.lease_owner !== null && r.lease_until !== null && r.lease_until > now) {
      leased++;
      owners.add(r.lease_owner);
      leaseLeft = Math.max(leaseLeft, r.lease_until - now);
    } else {
      dueIn = Math.min(dueIn, r.next_attempt_at - now);
    }
  }
  if (rows.length > 0) {
    parts.push(
      `${rows.length} open (${[...byStatus].map(([s, n]) => `${s} ${n}`).join(', ')})`,
      `${leased} under a live lease of ${owners.size} worker(s), longest ${Math.round(leaseLeft / 1000)} s left`,
    );
    if (Number.isFinite(dueIn))
      parts.push(`next unleased one due in ${Math.round(dueIn / 1000)} s`);
  }
  return parts.join('; ');
}

/**
 * Reads the ledger every second until nothing accepted is open, or `timeoutMs` passes (then
 * the last reading, whose `stuck` says what did not finish, is returned and logged).
 */
export async function waitForLedger(
  open: () => Store,
  accepted: readonly Accepted[],
  received: () => ReadonlyMap<string, number>,
  timeoutMs: number,
  log: (line: string) => void,
): Promise<{ ledger: Ledger; seconds: number }> {
  const started = Date.now();
  const store = open();
  try {
    let said = 0;
    for (;;) {
      const ledger = await readLedger(store, accepted, received());
      const elapsed = Date.now() - started;
      if (ledger.open === 0) return { ledger, seconds: elapsed / 1000 };
      if (elapsed > timeoutMs) {
        log(`  deadline passed (${Math.round(timeoutMs / 1000)} s): ${ledger.stuck}`);
        return { ledger, seconds: elapsed / 1000 };
      }
      if (elapsed - said >= 10_000) {
        said = elapsed;
        log(`  waiting for final states: ${ledger.stuck}`);
      }
      await sleep(1000);
    }
  } finally {
    await store.close();
  }
}
