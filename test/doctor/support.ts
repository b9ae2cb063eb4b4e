// What the doctor's clock check looks for, shared by its unit test and the CLI's.

import type { Store } from '../../src/store/database.ts';

/**
 * A client and an access token issued an hour after `now`: what the database holds when the
 * clock of the machine that issued it has since gone back. The doctor must fail on it.
 */
export async function insertTokenIssuedLater(store: Store, now: number): Promise<void> {
  await store.db
    .insertInto('clients')
    .values({
      client_id: 'c',
      name: 'c',
      secret_hash: 'x',
      quota_limit: null,
      created_at: now,
      secret_rotated_at: now,
    })
    .execute();
  await store.db
    .insertInto('access_tokens')
    .values({
      token_hash: 'h',
      client_id: 'c',
      issued_at: now + 3_600_000,
      expires_at: now + 7_200_000,
    })
    .execute();
}
