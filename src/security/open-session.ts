// The main operation: for a recipient domain, an SMTP session over TLS to one of its MX
// hosts that is encrypted with acceptable parameters and authenticated as the account's
// policy level requires, ready for MAIL FROM, or the reason why there is none. The
// delivery worker sends on the returned session, so the check and the delivery are one
// connection. Order of checks: SECURITY_POLICY.md.
import type { X509Certificate } from 'node:crypto';
import type { TlsaRecord } from '../dns/types.ts';
import type { AuthMethod, PolicyLevel } from '../vocabulary/policy-levels.ts';
import { REASONS, type ReasonCode, reasonClass } from '../vocabulary/reasons.ts';
import { describeTlsa } from './dane.ts';
import type { DomainEvidence, HostEvidence } from './evidence.ts';
import type { HostAssessment, JudgedHost } from './host-assessment.ts';
import { attemptAddress } from './host-attempt.ts';
import { discoverStsPolicy, type StsDiscovery } from './mta-sts.ts';
import { policyAllowsHost } from './mta-sts-policy.ts';
import { type MxHost, resolveAddresses, resolveHostTlsa, resolveMx } from './mx.ts';
import {
  addressPolicyOf,
  type SecurityDeps,
  type SecurityOptions,
  securityOptions,
} from './options.ts';
import { type ReuseDecision, sessionSatisfies } from './session-reuse.ts';
import type { SmtpClient } from './smtp-client.ts';
import { mayResume, type ResumableSession, type VerifiedHandshake } from './tls-resumption.ts';

export type { HostAssessment, JudgedHost } from './host-assessment.ts';

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

/**
 * A bound on the MX hosts looked at per attempt, whether or not they get as far as a
 * connection. The MX set is the recipient's to choose: without it, thousands of MX records
 * whose lookups time out or that point inside (no connection, so not counted above) held
 * one delivery for hours of DNS queries.
 */
export const MAX_HOSTS_ASSESSED = 10;

/**
 * Steps 1 and 2 of the policy for one recipient domain (MX, MTA-STS), before any host is
 * looked at. The delivery worker keeps these per domain and compares them with sessions it
 * already holds; openSecureSession goes on to connect.
 */
export interface DomainAssessment {
  domainName: string;
  options: Readonly<SecurityOptions>;
  /** Filled in as the assessment goes on (verdict, method, finishedAt). */
  domain: DomainEvidence;
  hosts: MxHost[];
  mxSecure: boolean;
  /** Whether the MX answer came from a resolver whose AD bit is trusted. */
  mxAdTrusted: boolean;
  mxDnssec: string;
  sts: StsDiscovery;
}

export type DomainAssessmentResult =
  | { ok: true; assessment: DomainAssessment }
  | { ok: false; result: SecureSessionResult };

/**
 * Where sessions come from besides new connections: the delivery worker keeps verified
 * sessions open and offers them here, so the order of checks stays in this one loop.
 */
export interface SessionSource {
  /**
   * A session already open to `address` of `host` that `satisfies` accepts, with its
   * evidence for this domain; or undefined. Asked for every address of a host before any
   * new connection to it. The engine owns the decision: `satisfies` is sessionSatisfies for
   * this domain's assessment, and a session it did not accept is never used.
   */
  reuse?(
    assessment: DomainAssessment,
    host: JudgedHost,
    address: string,
    satisfies: (client: SmtpClient, chain: readonly X509Certificate[]) => ReuseDecision,
  ): { client: SmtpClient; evidence: HostEvidence } | undefined;
  /** Told about each new verified connection (its certificates, for later reuse). */
  opened?(
    assessment: DomainAssessment,
    host: JudgedHost,
    address: string,
    opened: {
      client: SmtpClient;
      evidence: HostEvidence;
      chain: X509Certificate[];
      /** The full handshake its verification stands on (for resuming its TLS session later). */
      handshake: VerifiedHandshake;
    },
  ): void;
  /**
   * A TLS session kept from an earlier connection to `address` of `host`, offered for
   * resumption before a new connection is made. The engine decides: it is offered to the
   * server only when mayResume() accepts it for this domain (tls-resumption.ts).
   */
  resumable?(
    assessment: DomainAssessment,
    host: JudgedHost,
    address: string,
  ): ResumableSession | undefined;
}

/**
 * The policy for one recipient domain, end to end: a verified session or the reason why
 * there is none. Hosts in MX preference order; per host, a session the source offers for
 * any of its addresses, else new connections address by address.
 */
export async function openSecureSession(
  recipientDomain: string,
  input: Partial<SecurityOptions>,
  deps: SecurityDeps,
  source: SessionSource = {},
): Promise<SecureSessionResult> {
  const assessed = await assessDomain(recipientDomain, input, deps);
  if (!assessed.ok) return assessed.result;
  const assessment = assessed.assessment;
  const evidence: HostEvidence[] = [];
  let addressesTried = 0;
  for (const host of assessment.hosts.slice(0, MAX_HOSTS_ASSESSED)) {
    if (addressesTried >= MAX_ADDRESSES_TRIED) break;
    // An unexpected error while judging or connecting to one host fails that host only (a
    // temporary reason): the domain's other hosts are still tried, and when none delivers the
    // recipient is deferred. It is never read as a weaker way to authenticate this host.
    let judged: HostAssessment;
    try {
      judged = await assessHost(assessment, host, deps);
    } catch (error) {
      evidence.push(hostCheckFailed(assessment, host, error));
      continue;
    }
    if (!judged.ok) {
      evidence.push(judged.evidence);
      continue;
    }
    if (source.reuse !== undefined) {
      const accepted = new Set<SmtpClient>();
      const satisfies = (client: SmtpClient, chain: readonly X509Certificate[]) => {
        const check = sessionSatisfies(
          client,
          chain,
          judged,
          assessment.domainName,
          assessment.options.now(),
        );
        if (check.ok) accepted.add(client);
        return check;
      };
      for (const address of judged.addresses) {
        const reused = source.reuse(assessment, judged, address, satisfies);
        if (reused === undefined) continue;
        if (!accepted.has(reused.client)) {
          throw new Error('a session source offered a session the check did not accept');
        }
        evidence.push(reused.evidence);
        return sessionResult(assessment, judged.method, reused.client, evidence);
      }
    }
    for (const address of judged.addresses) {
      if (addressesTried >= MAX_ADDRESSES_TRIED) break;
      addressesTried++;
      let attempt: Awaited<ReturnType<typeof connectHost>>;
      try {
        const resume = source.resumable?.(assessment, judged, address);
        attempt = await connectHost(assessment, judged, address, resume);
      } catch (error) {
        evidence.push(hostCheckFailed(assessment, host, error, address));
        continue;
      }
      evidence.push(attempt.evidence);
      if (attempt.client && attempt.handshake) {
        source.opened?.(assessment, judged, address, {
          client: attempt.client,
          evidence: attempt.evidence,
          chain: attempt.chain,
          handshake: attempt.handshake,
        });
        return sessionResult(assessment, judged.method, attempt.client, evidence);
      }
    }
  }
  return concludeHosts(assessment, evidence);
}

/** The evidence of a host whose check threw: `host-check-failed`, with the error's message. */
function hostCheckFailed(
  assessment: DomainAssessment,
  host: MxHost,
  error: unknown,
  address?: string,
): HostEvidence {
  const at = assessment.options.now().toISOString();
  const message = error instanceof Error ? error.message : String(error);
  return {
    recipientDomain: assessment.domainName,
    mxHost: host.host,
    mxPreference: host.preference,
    implicitMx: host.implicit,
    ...(address === undefined ? {} : { address }),
    dnssec: { mx: assessment.mxDnssec },
    validation: [],
    transcript: [],
    startedAt: at,
    finishedAt: at,
    result: 'fail',
    reason: 'host-check-failed',
    detail: `the check of ${host.host}${address === undefined ? '' : ` (${address})`} failed unexpectedly: ${message}`,
  };
}

/** MX lookup and MTA-STS discovery; a refusal or deferral when the domain cannot be served. */
export async function assessDomain(
  recipientDomain: string,
  input: Partial<SecurityOptions>,
  deps: SecurityDeps,
): Promise<DomainAssessmentResult> {
  const options = securityOptions(input);
  const domainName = recipientDomain.toLowerCase().replace(/\.$/, '');
  const domain: DomainEvidence = {
    recipientDomain: domainName,
    policyLevel: options.policyLevel,
    startedAt: options.now().toISOString(),
    finishedAt: '',
    ...(deps.resolver.servers ? { resolvers: deps.resolver.servers.map((s) => ({ ...s })) } : {}),
    mx: { dnssec: '', hosts: [], implicit: false },
    verdict: 'defer',
  };

  const mx = await resolveMx(deps.resolver, domainName, options.random);
  domain.mx.dnssec = mx.dnssec;
  if (!mx.ok) {
    const verdict = reasonClass(mx.reason);
    Object.assign(domain, { verdict, reason: mx.reason, finishedAt: options.now().toISOString() });
    return {
      ok: false,
      result: { verdict, reason: mx.reason, message: mx.detail, domain, evidence: [] },
    };
  }
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
    addressPolicy: addressPolicyOf(options),
  });
  domain.mtaSts = {
    txt: sts.txt,
    txtDnssec: sts.txtDnssec,
    source: sts.source,
    ...(sts.txtId ? { txtId: sts.txtId } : {}),
    ...(sts.policy ? { policy: { ...sts.policy } } : {}),
    ...(sts.error ? { error: sts.error } : {}),
    ...(sts.indeterminate ? { indeterminate: sts.indeterminate } : {}),
  };
  return {
    ok: true,
    assessment: {
      domainName,
      options,
      domain,
      hosts: mx.hosts,
      mxSecure: mx.secure,
      mxAdTrusted: mx.adTrusted,
      mxDnssec: mx.dnssec,
      sts,
    },
  };
}

/** Step 3 for one MX host: its addresses, TLSA when the path is DNSSEC-secure, the method. */
export async function assessHost(
  assessment: DomainAssessment,
  host: MxHost,
  deps: SecurityDeps,
): Promise<HostAssessment> {
  const { options, sts } = assessment;
  const started = options.now().toISOString();
  const base: HostEvidence = {
    recipientDomain: assessment.domainName,
    mxHost: host.host,
    mxPreference: host.preference,
    implicitMx: host.implicit,
    dnssec: { mx: assessment.mxDnssec },
    validation: [],
    transcript: [],
    startedAt: started,
    finishedAt: started,
    result: 'fail',
  };
  const failHost = (reason: ReasonCode, detail: string): HostAssessment => ({
    ok: false,
    evidence: { ...base, reason, detail, finishedAt: options.now().toISOString() },
  });
  if (host.invalid !== undefined) return failHost('dns-invalid-answer', host.invalid);
  const resolved = await resolveAddresses(deps.resolver, host.host);
  base.dnssec.address = resolved.dnssec;
  if (!resolved.ok) return failHost(resolved.reason, resolved.detail);
  // Addresses outside the internet are never connected to (the zone is the recipient's,
  // and could point at our own networks); the host keeps the addresses it may use.
  const policy = addressPolicyOf(options);
  const addresses = resolved.addresses.filter((address) => policy.refusal(address) === undefined);
  if (addresses.length < resolved.addresses.length) {
    const refused = resolved.addresses
      .filter((address) => !addresses.includes(address))
      .map((address) => `${address} (${policy.refusal(address)})`)
      .join(', ');
    if (addresses.length === 0) {
      return failHost(
        'mx-address-forbidden',
        `${host.host} resolves only to addresses outside the public internet: ${refused}`,
      );
    }
    base.validation.push(`addresses outside the public internet skipped: ${refused}`);
  }
  let usableTlsa: TlsaRecord[] = [];
  let tlsaBase = host.host;
  let dnssecTrusted = assessment.mxAdTrusted && resolved.adTrusted;
  if (assessment.mxSecure && resolved.secure) {
    const tlsa = await resolveHostTlsa(
      deps.resolver,
      host.host,
      resolved.canonical,
      options.smtpPort,
    );
    base.dnssec.tlsa = tlsa.dnssec;
    if (!tlsa.ok) return failHost(tlsa.reason, tlsa.detail);
    dnssecTrusted &&= tlsa.adTrusted;
    usableTlsa = tlsa.usable;
    if (tlsa.usable.length > 0) tlsaBase = tlsa.base;
    if (tlsa.records.length > 0) {
      base.tlsa = {
        name: tlsa.name,
        records: tlsa.records.map(describeTlsa),
        usable: tlsa.usable.length,
      };
    }
  }
  const choice = chooseMethod(host, usableTlsa, sts, options.policyLevel, dnssecTrusted);
  if (sts.policy) base.mtaSts = { id: sts.policy.id, mode: sts.policy.mode, mx: sts.policy.mx };
  if (!choice.ok) return failHost(choice.reason, choice.detail);
  base.policySource = choice.method;
  return {
    ok: true,
    host,
    addresses,
    method: choice.method,
    tlsa: usableTlsa,
    tlsaBase,
    base,
  };
}

/** Steps 4 to 7 on one address of an assessed host: a verified session, or why not. */
export async function connectHost(
  assessment: DomainAssessment,
  host: Extract<HostAssessment, { ok: true }>,
  address: string,
  /** A TLS session kept from an earlier connection, offered only when mayResume() allows. */
  resume?: ResumableSession,
): Promise<{
  evidence: HostEvidence;
  client: SmtpClient | undefined;
  chain: X509Certificate[];
  handshake?: VerifiedHandshake;
}> {
  const { options } = assessment;
  const { base } = host;
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
  let offered: ResumableSession | undefined;
  if (resume !== undefined) {
    const check = mayResume(
      resume,
      host,
      address,
      options.smtpPort,
      options.policyLevel,
      assessment.domainName,
      options.now(),
    );
    attempt.validation.push(
      check.ok ? `resumption offered: ${check.detail}` : `no resumption: ${check.detail}`,
    );
    if (check.ok) offered = resume;
  }
  const outcome = await attemptAddress(
    {
      recipientDomain: assessment.domainName,
      mxHost: host.host.host,
      address,
      method: host.method,
      tlsa: host.tlsa,
      tlsaBase: host.tlsaBase,
      options,
      ...(offered ? { resume: offered } : {}),
    },
    attempt,
  );
  attempt.finishedAt = options.now().toISOString();
  if (outcome.ok) {
    attempt.result = 'pass';
    return {
      evidence: attempt,
      client: outcome.client,
      chain: outcome.chain,
      handshake: outcome.handshake,
    };
  }
  attempt.reason = outcome.reason;
  attempt.detail = outcome.detail;
  return { evidence: attempt, client: undefined, chain: [] };
}

/** The `deliver` result for a session that passed `method` (new, or reused by the worker). */
export function sessionResult(
  assessment: DomainAssessment,
  method: AuthMethod,
  session: SmtpClient,
  evidence: HostEvidence[],
): SecureSessionResult {
  Object.assign(assessment.domain, {
    verdict: 'deliver',
    method,
    finishedAt: assessment.options.now().toISOString(),
  });
  return { verdict: 'deliver', session, method, domain: assessment.domain, evidence };
}

/** No host passed: refuse or defer with the reasons of each host (see concludeFromHosts). */
export function concludeHosts(
  assessment: DomainAssessment,
  evidence: HostEvidence[],
): SecureSessionResult {
  return concludeFromHosts(evidence, (reason, message) =>
    concludeAssessment(assessment, evidence, reason, message),
  );
}

function concludeAssessment(
  assessment: DomainAssessment,
  evidence: HostEvidence[],
  reason: ReasonCode,
  message: string,
): SecureSessionResult {
  const verdict = reasonClass(reason);
  Object.assign(assessment.domain, {
    verdict,
    reason,
    finishedAt: assessment.options.now().toISOString(),
  });
  return { verdict, reason, message, domain: assessment.domain, evidence };
}

type MethodChoice =
  | { ok: true; method: AuthMethod }
  | { ok: false; reason: ReasonCode; detail: string };

/**
 * Which authentication a host must pass: DANE when it has secure usable TLSA records (this
 * takes precedence over MTA-STS, RFC 8461 2), else MTA-STS when an `enforce` policy applies
 * (and then the host must be listed in it), else PKIX. Then the account's level decides
 * whether that method is good enough, before any connection is made.
 *
 * Two doubts stop the choice instead of weakening it: an MTA-STS policy that may exist but
 * cannot be known now (`sts.indeterminate`), and, at `dane-only`, DNS answers that came from
 * a resolver whose DNSSEC validation we do not trust (`dnssecTrusted` false), where the
 * absence of TLSA proves nothing. Both defer.
 */
export function chooseMethod(
  host: MxHost,
  usableTlsa: readonly TlsaRecord[],
  sts: StsDiscovery,
  level: PolicyLevel,
  dnssecTrusted: boolean,
): MethodChoice {
  let method: AuthMethod;
  if (usableTlsa.length > 0) method = 'dane';
  else if (level === 'dane-only') {
    // MTA-STS cannot satisfy this level, so its doubts do not matter here; DNSSEC's do.
    if (!dnssecTrusted) {
      return {
        ok: false,
        reason: 'dnssec-unavailable',
        detail: `the DNS answers for ${host.host} came from a resolver whose DNSSEC validation (AD bit) is not trusted`,
      };
    }
    method = 'pkix';
  } else if (sts.indeterminate) {
    return { ok: false, reason: sts.indeterminate.reason, detail: sts.indeterminate.detail };
  } else if (sts.policy?.mode === 'enforce') {
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
