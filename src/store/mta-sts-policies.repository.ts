// MTA-STS policies as fetched, one row per recipient domain, shared by every API and worker
// process and surviving restarts. The row type is schema.ts's MtaStsPoliciesTable; turning a
// row into a policy (and distrusting a malformed one) is the security engine's
// (src/security/mta-sts-store.ts).

import type { Db } from './database.ts';
import type { MtaStsPolicy } from './schema.ts';

export async function findStsPolicyRow(db: Db, domain: string): Promise<MtaStsPolicy | undefined> {
  return db
    .selectFrom('mta_sts_policies')
    .selectAll()
    .where('domain', '=', domain.toLowerCase())
    .executeTakeFirst();
}

/** Inserts the domain's policy or replaces the one stored. */
export async function saveStsPolicyRow(db: Db, row: MtaStsPolicy): Promise<void> {
  await db
    .insertInto('mta_sts_policies')
    .values(row)
    .onConflict((conflict) =>
      conflict.column('domain').doUpdateSet({
        policy_id: row.policy_id,
        policy_json: row.policy_json,
        fetched_at: row.fetched_at,
        expires_at: row.expires_at,
      }),
    )
    .execute();
}
