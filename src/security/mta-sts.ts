// Which MTA-STS policy applies to a recipient domain right now (RFC 8461 5.1), combining
// discovery, the HTTPS fetch and the cache.
import { prefixedName } from '../dns/names.ts';
import { describeAnswer, type Resolver } from '../dns/types.ts';
import type { AddressPolicy } from '../net/address-ranges.ts';
import type { ReasonCode } from '../vocabulary/reasons.ts';
import type { StsPolicyCache } from './mta-sts-cache.ts';
import { fetchStsPolicy, type StsFetchError } from './mta-sts-fetch.ts';
import { parseStsTxt, type StsPolicy } from './mta-sts-policy.ts';

export interface StsDiscovery {
  /** The policy that applies, if any (any mode; only `enforce` authenticates). */
  policy: StsPolicy | undefined;
  source: 'fetched' | 'cache' | 'none';
  /** What the TXT lookup found: a record (with id), none/invalid, or a DNS failure. */
  txt: 'found' | 'absent' | 'dns-failure';
  txtId?: string;
  txtDnssec: string;
  /** Why a policy announced now could not be fetched (recorded even when the cache covers it). */
  error?: { reason: StsFetchError; detail: string };
  /**
   * Set when it is unknown whether a policy applies: the TXT lookup failed, or a policy was
   * announced and could not be fetched for a reason that may pass, and no cached policy
   * covers the domain. Hosts that MTA-STS would judge cannot be judged now: they are
   * deferred, never judged by a weaker method (RFC 8461 5.1 keeps a cached policy; we also
   * never act as if an unknown one were absent).
   */
  indeterminate?: { reason: ReasonCode; detail: string };
}

export interface StsDeps {
  resolver: Resolver;
  cache: StsPolicyCache;
  extraCa: readonly string[];
  port: number;
  timeoutMs: number;
  now: () => Date;
  addressPolicy: AddressPolicy;
}

/** Most time between refreshes of a cached policy whose id has not changed. */
export const STS_REFRESH_SECONDS = 86_400;

/**
 * Whether a cached policy whose TXT id is unchanged should be fetched again now: after half
 * its max_age, and at least once a day. A refreshed policy starts a new max_age (RFC 8461
 * 5.1 asks senders to refresh before expiry). Without it, a policy was only fetched again
 * once it had expired, at a moment anyone could compute; an attacker who controls DNS then
 * only had to break the download at that moment (a certificate the Web PKI refuses is no
 * passing failure) for the domain to lose its policy until the next successful fetch.
 */
function refreshDue(fetchedAt: Date, policy: StsPolicy, now: Date): boolean {
  const refreshAfter = Math.min(policy.maxAge / 2, STS_REFRESH_SECONDS) * 1000;
  return now.getTime() - fetchedAt.getTime() >= refreshAfter;
}

/** After a refresh failed while the cached policy still holds, the next try waits this long. */
export const STS_REFRESH_RETRY_SECONDS = 900;

/**
 * Failed refreshes, per cache and domain: when the next may be tried (epoch ms). A refresh
 * that fails keeps the cached policy, so it is no hurry; without this pause every new session
 * to the domain fetched again, and a policy host that hangs held each of them for the whole
 * fetch timeout (20 s) until a download worked. Kept in this process only: another worker
 * trying once more is harmless, and a restart may try at once.
 */
const refreshFailures = new WeakMap<StsPolicyCache, Map<string, number>>();

function refreshPaused(cache: StsPolicyCache, domain: string, now: Date): boolean {
  const retryAt = refreshFailures.get(cache)?.get(domain.toLowerCase());
  return retryAt !== undefined && now.getTime() < retryAt;
}

function noteRefresh(cache: StsPolicyCache, domain: string, now: Date, failed: boolean): void {
  let failures = refreshFailures.get(cache);
  if (!failed) {
    failures?.delete(domain.toLowerCase());
    return;
  }
  if (failures === undefined) {
    failures = new Map();
    refreshFailures.set(cache, failures);
  }
  failures.set(domain.toLowerCase(), now.getTime() + STS_REFRESH_RETRY_SECONDS * 1000);
}

export async function discoverStsPolicy(domain: string, deps: StsDeps): Promise<StsDiscovery> {
  const now = deps.now();
  const stored = await deps.cache.get(domain);
  const cached = stored && stored.expiresAt.getTime() > now.getTime() ? stored.policy : undefined;
  const fromCache = (base: Omit<StsDiscovery, 'policy' | 'source'>): StsDiscovery =>
    cached
      ? { ...base, policy: cached, source: 'cache' }
      : { ...base, policy: undefined, source: 'none' };

  const txtName = prefixedName('_mta-sts', domain);
  // A domain too long for the prefix cannot publish the record (and a cached policy, were
  // there one, still applies).
  if (txtName === undefined) {
    return fromCache({ txt: 'absent', txtDnssec: 'no lookup: the name would be too long' });
  }
  const answer = await deps.resolver.query(txtName, 'TXT');
  const txtDnssec = describeAnswer(answer);
  if (answer.outcome === 'servfail' || answer.outcome === 'timeout') {
    const found = fromCache({ txt: 'dns-failure', txtDnssec });
    if (found.policy) return found;
    return {
      ...found,
      indeterminate: {
        reason: 'dns-temporary-failure',
        detail: `_mta-sts.${domain} TXT lookup: ${answer.problem ?? answer.outcome}`,
      },
    };
  }
  const txt = parseStsTxt(answer.outcome === 'ok' ? answer.records : []);
  if (!txt.found) {
    // A missing record must not switch off a cached policy: that is the downgrade an
    // attacker who strips DNS answers would try.
    return fromCache({ txt: 'absent', txtDnssec });
  }
  if (
    cached &&
    stored &&
    cached.id === txt.id &&
    (!refreshDue(stored.fetchedAt, cached, now) || refreshPaused(deps.cache, domain, now))
  ) {
    return { policy: cached, source: 'cache', txt: 'found', txtId: txt.id, txtDnssec };
  }
  const refreshing = cached !== undefined && cached.id === txt.id;
  // A new id, or the same one with the cached copy due for refreshing: fetch. Should that
  // fail, the cached policy still applies (below).
  const fetched = await fetchStsPolicy(domain, txt.id, {
    resolver: deps.resolver,
    extraCa: deps.extraCa,
    port: deps.port,
    timeoutMs: deps.timeoutMs,
    addressPolicy: deps.addressPolicy,
  });
  if (refreshing) noteRefresh(deps.cache, domain, now, !fetched.ok);
  if (!fetched.ok) {
    const found = fromCache({
      txt: 'found',
      txtId: txt.id,
      txtDnssec,
      error: { reason: fetched.reason, detail: fetched.detail },
    });
    if (found.policy || !fetched.temporary) return found;
    return {
      ...found,
      indeterminate: {
        reason: 'sts-policy-unreachable',
        detail: `policy of ${domain} (id ${txt.id}): ${fetched.detail}`,
      },
    };
  }
  const fetchedAt = deps.now();
  const expiresAt = new Date(fetchedAt.getTime() + fetched.policy.maxAge * 1000);
  await deps.cache.put(domain, fetched.policy, fetchedAt, expiresAt);
  return { policy: fetched.policy, source: 'fetched', txt: 'found', txtId: txt.id, txtDnssec };
}
