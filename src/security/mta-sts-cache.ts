// The MTA-STS policy cache (RFC 8461 5.1). A policy is kept until fetchedAt + max_age and
// applies even when discovery fails later, so a stripped TXT record cannot downgrade
// delivery. Production uses the database (shared by all processes, survives restarts,
// see mta-sts-store.ts); the in-memory one is for the CLI check and tests.
import type { StsPolicy } from './mta-sts-policy.ts';

export interface CachedStsPolicy {
  domain: string;
  policy: StsPolicy;
  fetchedAt: Date;
  expiresAt: Date;
}

export interface StsPolicyCache {
  get(domain: string): Promise<CachedStsPolicy | undefined>;
  put(domain: string, policy: StsPolicy, fetchedAt: Date, expiresAt: Date): Promise<void>;
}

export function createMemoryStsPolicyCache(): StsPolicyCache {
  const entries = new Map<string, CachedStsPolicy>();
  return {
    async get(domain) {
      return entries.get(domain.toLowerCase());
    },
    async put(domain, policy, fetchedAt, expiresAt) {
      const key = domain.toLowerCase();
      entries.set(key, { domain: key, policy, fetchedAt, expiresAt });
    },
  };
}
