// The database-backed MTA-STS policy cache: one row per recipient domain, shared by every
// API/worker process and surviving restarts. Free functions over a Kysely handle, like the
// other repositories. Times are ISO-8601 UTC strings so SQLite and PostgreSQL store the
// same text and compare it the same way.
import type { Kysely } from 'kysely';
import type { CachedStsPolicy, StsPolicyCache } from './mta-sts-cache.ts';
import type { StsMode, StsPolicy } from './mta-sts-policy.ts';

export interface MtaStsPolicyTable {
  domain: string;
  policy_id: string;
  policy_json: string;
  fetched_at: string;
  expires_at: string;
}

export interface MtaStsTables {
  mta_sts_policies: MtaStsPolicyTable;
}

export async function findStsPolicy(
  db: Kysely<MtaStsTables>,
  domain: string,
): Promise<CachedStsPolicy | undefined> {
  const row = await db
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
    fetchedAt: new Date(row.fetched_at),
    expiresAt: new Date(row.expires_at),
  };
}

export async function saveStsPolicy(
  db: Kysely<MtaStsTables>,
  domain: string,
  policy: StsPolicy,
  fetchedAt: Date,
  expiresAt: Date,
): Promise<void> {
  const row: MtaStsPolicyTable = {
    domain: domain.toLowerCase(),
    policy_id: policy.id,
    policy_json: JSON.stringify({ mode: policy.mode, mx: policy.mx, maxAge: policy.maxAge }),
    fetched_at: fetchedAt.toISOString(),
    expires_at: expiresAt.toISOString(),
  };
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

export function createDatabaseStsPolicyCache(db: Kysely<MtaStsTables>): StsPolicyCache {
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
