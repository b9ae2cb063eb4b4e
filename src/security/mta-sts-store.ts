// The database-backed MTA-STS policy cache: one row per recipient domain, shared by every
// API/worker process and surviving restarts. Free functions over a Kysely handle, like the
// other repositories. Times are Unix epoch milliseconds, like every table of the store.
import type { Kysely } from 'kysely';
import type { CachedStsPolicy, StsPolicyCache } from './mta-sts-cache.ts';
import type { StsMode, StsPolicy } from './mta-sts-policy.ts';

export interface MtaStsPolicyTable {
  domain: string;
  policy_id: string;
  policy_json: string;
  fetched_at: number;
  expires_at: number;
}

export interface MtaStsTables {
  mta_sts_policies: MtaStsPolicyTable;
}

/**
 * Accepts any database whose schema includes `mta_sts_policies` with these columns.
 * Kysely's types are invariant in the schema, so the narrowing is one cast here.
 */
function narrow<DB extends MtaStsTables>(db: Kysely<DB>): Kysely<MtaStsTables> {
  return db as unknown as Kysely<MtaStsTables>;
}

export async function findStsPolicy<DB extends MtaStsTables>(
  db: Kysely<DB>,
  domain: string,
): Promise<CachedStsPolicy | undefined> {
  const row = await narrow(db)
    .selectFrom('mta_sts_policies')
    .selectAll()
    .where('domain', '=', domain.toLowerCase())
    .executeTakeFirst();
  if (!row) return undefined;
  const policy = decodePolicy(row.policy_json, row.policy_id);
  if (!policy) return undefined;
  return {
    domain: row.domain,
    policy,
    fetchedAt: new Date(Number(row.fetched_at)),
    expiresAt: new Date(Number(row.expires_at)),
  };
}

export async function saveStsPolicy<DB extends MtaStsTables>(
  db: Kysely<DB>,
  domain: string,
  policy: StsPolicy,
  fetchedAt: Date,
  expiresAt: Date,
): Promise<void> {
  const row: MtaStsPolicyTable = {
    domain: domain.toLowerCase(),
    policy_id: policy.id,
    policy_json: JSON.stringify({ mode: policy.mode, mx: policy.mx, maxAge: policy.maxAge }),
    fetched_at: fetchedAt.getTime(),
    expires_at: expiresAt.getTime(),
  };
  await narrow(db)
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

export function createDatabaseStsPolicyCache<DB extends MtaStsTables>(
  db: Kysely<DB>,
): StsPolicyCache {
  return {
    get: (domain) => findStsPolicy(db, domain),
    put: (domain, policy, fetchedAt, expiresAt) =>
      saveStsPolicy(db, domain, policy, fetchedAt, expiresAt),
  };
}

const MODES: readonly StsMode[] = ['enforce', 'testing', 'none'];

/** A row written by an older or broken version is ignored rather than trusted. */
function decodePolicy(json: string, id: string): StsPolicy | undefined {
  try {
    const value: unknown = JSON.parse(json);
    if (typeof value !== 'object' || value === null) return undefined;
    const { mode, mx, maxAge } = value as Record<string, unknown>;
    if (!MODES.includes(mode as StsMode)) return undefined;
    if (!Array.isArray(mx) || !mx.every((m) => typeof m === 'string')) return undefined;
    if (typeof maxAge !== 'number') return undefined;
    return { id, mode: mode as StsMode, mx, maxAge };
  } catch {
    return undefined;
  }
}
