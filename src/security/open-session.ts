// The main operation: for a recipient domain, an SMTP session over TLS to one of its MX
// hosts that is encrypted with acceptable parameters and authenticated as the account's
// policy level requires, ready for MAIL FROM, or the reason why there is none. The
// delivery worker sends on the returned session, so the check and the delivery are one
// connection. Order of checks: SECURITY_POLICY.md.
import type { TlsaRecord } from '../dns/types.ts';
import { describeTlsa } from './dane.ts';
import type { DomainEvidence, HostEvidence } from './evidence.ts';
import { attemptAddress } from './host-attempt.ts';
import { discoverStsPolicy, type StsDiscovery } from './mta-sts.ts';
import { policyAllowsHost } from './mta-sts-policy.ts';
import { type MxHost, resolveAddresses, resolveMx, resolveTlsa } from './mx.ts';
import {
  type AuthMethod,
  type PolicyLevel,
  type SecurityDeps,
  type SecurityOptions,
  securityOptions,
} from './options.ts';
import { REASONS, type ReasonCode, reasonClass } from './reasons.ts';
import type { SmtpClient } from './smtp-client.ts';

export type SecureSessionResult =
  | {
      verdict: 'deliver';
      session: SmtpClient;
      method: AuthMethod;
      domain: DomainEvidence;
      evidence: HostEvidence[];
    }
  | {
      verdict: 'refuse' | 'defer';
      reason: ReasonCode;
      message: string;
      domain: DomainEvidence;
      evidence: HostEvidence[];
    };

/** A bound on connections per attempt (Postfix uses 5 addresses; MX sets can be long). */
export const MAX_ADDRESSES_TRIED = 10;

export async function openSecureSession(
  recipientDomain: string,
  input: Partial<SecurityOptions>,
  deps: SecurityDeps,
): Promise<SecureSessionResult> {
  const options = securityOptions(input);
  const domainName = recipientDomain.toLowerCase().replace(/\.$/, '');
  const domain: DomainEvidence = {
    recipientDomain: domainName,
    policyLevel: options.policyLevel,
    startedAt: options.now().toISOString(),
    finishedAt: '',
    mx: { dnssec: '', hosts: [], implicit: false },
    verdict: 'defer',
  };
  const evidence: HostEvidence[] = [];
  const conclude = (reason: ReasonCode, message: string): SecureSessionResult => {
    const verdict = reasonClass(reason);
    Object.assign(domain, { verdict, reason, finishedAt: options.now().toISOString() });
    return { verdict, reason, message, domain, evidence };
  };

  const mx = await resolveMx(deps.resolver, domainName, options.random);
  domain.mx.dnssec = mx.dnssec;
  if (!mx.ok) return conclude(mx.reason, mx.detail);
  domain.mx.secure = mx.secure;
  domain.mx.hosts = mx.hosts.map(({ host, preference }) => ({ host, preference }));
  domain.mx.implicit = mx.hosts.some((host) => host.implicit);

  const sts = await discoverStsPolicy(domainName, {
    resolver: deps.resolver,
    cache: deps.stsCache,
    extraCa: options.extraCa,
    port: options.mtaStsPort,
    timeoutMs: options.mtaStsTimeoutMs,
    now: options.now,
  });
  domain.mtaSts = {
    txt: sts.txt,
    txtDnssec: sts.txtDnssec,
    source: sts.source,
    ...(sts.txtId ? { txtId: sts.txtId } : {}),
    ...(sts.policy ? { policy: { ...sts.policy } } : {}),
    ...(sts.error ? { error: sts.error } : {}),
  };

  let addressesTried = 0;
  for (const host of mx.hosts) {
    if (addressesTried >= MAX_ADDRESSES_TRIED) break;
    const started = options.now().toISOString();
    const base: HostEvidence = {
      recipientDomain: domainName,
      mxHost: host.host,
      mxPreference: host.preference,
      implicitMx: host.implicit,
      dnssec: { mx: mx.dnssec },
      validation: [],
      transcript: [],
      startedAt: started,
      finishedAt: started,
      result: 'fail',
    };
    const failHost = (reason: ReasonCode, detail: string) => {
      evidence.push({ ...base, reason, detail, finishedAt: options.now().toISOString() });
    };
    const addresses = await resolveAddresses(deps.resolver, host.host);
    base.dnssec.address = addresses.dnssec;
    if (!addresses.ok) {
      failHost(addresses.reason, addresses.detail);
      continue;
    }
    let usableTlsa: TlsaRecord[] = [];
    if (mx.secure && addresses.secure) {
      const tlsa = await resolveTlsa(deps.resolver, host.host, options.smtpPort);
      base.dnssec.tlsa = tlsa.dnssec;
      if (!tlsa.ok) {
        failHost(tlsa.reason, tlsa.detail);
        continue;
      }
      usableTlsa = tlsa.usable;
      if (tlsa.records.length > 0) {
        base.tlsa = {
          name: tlsa.name,
          records: tlsa.records.map(describeTlsa),
          usable: tlsa.usable.length,
        };
      }
    }
    const choice = chooseMethod(host, usableTlsa, sts, options.policyLevel);
    if (sts.policy) base.mtaSts = { id: sts.policy.id, mode: sts.policy.mode, mx: sts.policy.mx };
    if (!choice.ok) {
      failHost(choice.reason, choice.detail);
      continue;
    }
    base.policySource = choice.method;
    for (const address of addresses.addresses) {
      if (addressesTried >= MAX_ADDRESSES_TRIED) break;
      addressesTried++;
      const attempt: HostEvidence = {
        ...base,
        dnssec: { ...base.dnssec },
        address,
        port: options.smtpPort,
        validation: [],
        transcript: [],
        startedAt: options.now().toISOString(),
      };
      if (base.tlsa) attempt.tlsa = { ...base.tlsa };
      const outcome = await attemptAddress(
        {
          recipientDomain: domainName,
          mxHost: host.host,
          address,
          method: choice.method,
          tlsa: usableTlsa,
          options,
        },
        attempt,
      );
      attempt.finishedAt = options.now().toISOString();
      evidence.push(attempt);
      if (outcome.ok) {
        attempt.result = 'pass';
        Object.assign(domain, {
          verdict: 'deliver',
          method: choice.method,
          finishedAt: options.now().toISOString(),
        });
        return {
          verdict: 'deliver',
          session: outcome.client,
          method: choice.method,
          domain,
          evidence,
        };
      }
      attempt.reason = outcome.reason;
      attempt.detail = outcome.detail;
    }
  }
  return concludeFromHosts(evidence, conclude);
}

type MethodChoice =
  | { ok: true; method: AuthMethod }
  | { ok: false; reason: ReasonCode; detail: string };

/**
 * Which authentication a host must pass: DANE when it has secure usable TLSA records (this
 * takes precedence over MTA-STS, RFC 8461 2), else MTA-STS when an `enforce` policy applies
 * (and then the host must be listed in it), else PKIX. Then the account's level decides
 * whether that method is good enough, before any connection is made.
 */
export function chooseMethod(
  host: MxHost,
  usableTlsa: readonly TlsaRecord[],
  sts: StsDiscovery,
  level: PolicyLevel,
): MethodChoice {
  let method: AuthMethod;
  if (usableTlsa.length > 0) method = 'dane';
  else if (sts.policy?.mode === 'enforce') {
    if (!policyAllowsHost(sts.policy, host.host)) {
      return {
        ok: false,
        reason: 'sts-mx-mismatch',
        detail: `${host.host} does not match the MTA-STS mx patterns ${sts.policy.mx.join(', ')}`,
      };
    }
    method = 'mta-sts';
  } else method = 'pkix';

  switch (level) {
    case 'verified':
      return { ok: true, method };
    case 'authenticated':
      if (method !== 'pkix') return { ok: true, method };
      // When the domain announced MTA-STS but the policy could not be used, that failure
      // is the more useful explanation for the recipient's administrator.
      if (sts.error && !sts.policy)
        return { ok: false, reason: sts.error.reason, detail: sts.error.detail };
      return {
        ok: false,
        reason: 'pkix-insecure-mx',
        detail: `${host.host} has neither DANE nor an MTA-STS enforce policy`,
      };
    case 'dane-only':
      if (method === 'dane') return { ok: true, method };
      return {
        ok: false,
        reason: 'dane-required',
        detail: `${host.host} has no DNSSEC-secure usable TLSA records`,
      };
    default: {
      const never: never = level;
      throw new Error(`unknown policy level ${String(never)}`);
    }
  }
}

/**
 * No host passed. If any host failed for a reason that may clear up (DNS, network, 4xx),
 * the recipient is deferred: a retry may reach a good host, and we never downgrade. Only
 * when every host failed for a final reason is the recipient refused.
 */
function concludeFromHosts(
  evidence: HostEvidence[],
  conclude: (reason: ReasonCode, message: string) => SecureSessionResult,
): SecureSessionResult {
  const failures = evidence.filter((host) => host.reason !== undefined);
  const message = failures
    .map(
      (host) =>
        `${host.mxHost}${host.address ? ` [${host.address}]` : ''}: ${host.reason} (${host.detail})`,
    )
    .join('; ');
  const temporary = failures.find((host) => reasonClass(host.reason!) === 'defer');
  const primary = temporary ?? failures[0];
  if (!primary?.reason) return conclude('no-mail-host', 'no MX host could be tried');
  return conclude(primary.reason, message || REASONS[primary.reason].explanation);
}
