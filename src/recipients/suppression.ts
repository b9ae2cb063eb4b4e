// The account's suppression list as the recipient lifecycle uses it: submission accepts a
// listed address as `suppressed` (no attempt), and a hard bounce reported for an account's
// message adds its address (reports.ts). Which bounce is hard is the DSN reader's call
// (src/inbound/apply-bounce.ts).

import type { Db } from '../store/database.ts';
import { insertSuppression, suppressedAmong } from '../store/suppressions.repository.ts';

/**
 * The addresses (as given) that are on the account's suppression list. Submission marks
 * those recipients `suppressed` without an SMTP attempt. Comparison ignores case.
 */
export async function filterSuppressed(
  db: Db,
  accountId: string,
  addresses: string[],
  /**
   * The keyed digest of an address (src/secrets/keyed-digest.ts): an address whose data was
   * erased stays suppressed as its digest, and is found through it.
   */
  digestOf?: (address: string) => string,
): Promise<Set<string>> {
  if (addresses.length === 0) return new Set();
  const listed = await suppressedAmong(db, accountId, addresses, digestOf);
  return new Set(addresses.filter((a) => listed.has(a.toLowerCase())));
}

/** Adds a hard-bounced address. */
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
