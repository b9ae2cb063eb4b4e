// The database-backed MTA-STS policy cache: one row per recipient domain, shared by every
// API/worker process and surviving restarts. The rows are the store's
// (src/store/mta-sts-policies.repository.ts); this file turns them into policies and back.
// Times are Unix epoch milliseconds, like every table of the store.
import type { Db } from '../store/database.ts';
import { findStsPolicyRow, saveStsPolicyRow } from '../store/mta-sts-policies.repository.ts';
import type { CachedStsPolicy, StsPolicyCache } from './mta-sts-cache.ts';
import type { StsMode, StsPolicy } from './mta-sts-policy.ts';

export async function findStsPolicy(db: Db, domain: string): Promise<CachedStsPolicy | undefined> {
  const row = await findStsPolicyRow(db, domain);
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

export async function saveStsPolicy(
  db: Db,
  domain: string,
  policy: StsPolicy,
  fetchedAt: Date,
  expiresAt: Date,
): Promise<void> {
  await saveStsPolicyRow(db, {
    domain: domain.toLowerCase(),
    policy_id: policy.id,
    policy_json: JSON.stringify({ mode: policy.mode, mx: policy.mx, maxAge: policy.maxAge }),
    fetched_at: fetchedAt.getTime(),
    expires_at: expiresAt.getTime(),
  });
}

export function createDatabaseStsPolicyCache(db: Db): StsPolicyCache {
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
