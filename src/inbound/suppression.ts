// Which bounces suppress an address, and the check submission makes against the list.

import type { Db } from '../store/database.ts';
import { insertSuppression, suppressedAmong } from '../store/suppressions.repository.ts';

/**
 * A hard bounce says the address itself is bad (RFC 3463): 5.1.x addressing status
 * (no such mailbox, no such domain, moved) or 5.2.1 (mailbox disabled). Other permanent
 * failures, such as 5.7.1 (rejected by policy, often spam filtering) or 5.2.2 (mailbox full),
 * fail the one message without condemning the address for every later one.
 */
export function isHardBounce(status: string | null): boolean {
  if (status === null) return false;
  return /^5\.1\.\d{1,3}$/.test(status) || status === '5.2.1';
}

/**
 * The addresses (as given) that are on the account's suppression list. Submission marks
 * those recipients `suppressed` without an SMTP attempt. Comparison ignores case.
 */
export async function filterSuppressed(
  db: Db,
  accountId: string,
  addresses: string[],
): Promise<Set<string>> {
  if (addresses.length === 0) return new Set();
  const listed = await suppressedAmong(db, accountId, addresses);
  return new Set(addresses.filter((a) => listed.has(a.toLowerCase())));
}

/** Adds a hard-bounced address; the worker can call this for a 5xx at RCPT as well. */
export async function suppressAddress(
  db: Db,
  entry: {
    accountId: string;
    address: string;
    detail: string | null;
    recipientId: string | null;
    at: number;
  },
): Promise<boolean> {
  return insertSuppression(db, { ...entry, reason: 'hard_bounce' });
}
