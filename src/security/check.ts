// The pre-flight check: the same operation as a delivery, ending with QUIT instead of MAIL
// FROM. Used by `POST /security/check` and `securemail check`.

import type { AuthMethod } from '../vocabulary/policy-levels.ts';
import { REASONS, type ReasonCode } from '../vocabulary/reasons.ts';
import type { Verdict } from '../vocabulary/verdicts.ts';
import type { CertificateSummary } from './certificates.ts';
import type { DomainEvidence, HostEvidence } from './evidence.ts';
import { openSecureSession } from './open-session.ts';
import type { SecurityDeps, SecurityOptions } from './options.ts';

export interface HostReport {
  host: string;
  preference: number;
  address?: string;
  result: 'pass' | 'fail';
  reason?: ReasonCode;
  detail?: string;
  method?: AuthMethod;
  dnssec: HostEvidence['dnssec'];
  tlsVersion?: string;
  cipher?: string;
  keyExchange?: string;
  certificate?: CertificateSummary;
  validation: string[];
}

export interface DomainReport {
  domain: string;
  /** The addresses/inputs that named this domain. */
  recipients: string[];
  verdict: Verdict;
  reason?: ReasonCode;
  explanation?: string;
  fix?: string;
  message?: string;
  method?: AuthMethod;
  tlsVersion?: string;
  cipher?: string;
  keyExchange?: string;
  certificate?: CertificateSummary;
  /** The resolvers asked, and whether their DNSSEC validation (AD bit) is believed. */
  resolvers: Array<{ address: string; trustAd: boolean }>;
  hosts: HostReport[];
  evidence: { domain: DomainEvidence; hosts: HostEvidence[] };
}

/** Domains checked at the same time; each check holds at most one connection. */
export const CHECK_CONCURRENCY = 4;

/** `a@Example.com`, `example.com.` and `EXAMPLE.COM` all name `example.com`. */
export function domainOf(input: string): string {
  const at = input.lastIndexOf('@');
  return (at >= 0 ? input.slice(at + 1) : input).trim().toLowerCase().replace(/\.$/, '');
}

/**
 * Checks the recipients' domains, at most CHECK_CONCURRENCY at once. The reports come back in
 * the order the domains were first named; `onReport` hears each one as soon as it is known
 * (`index` is its place in that order), so a long check can show results as they come.
 */
export async function checkRecipients(
  inputs: readonly string[],
  options: Partial<SecurityOptions>,
  deps: SecurityDeps,
  onReport?: (report: DomainReport, index: number, total: number) => void,
): Promise<DomainReport[]> {
  const byDomain = new Map<string, string[]>();
  for (const input of inputs) {
    const domain = domainOf(input);
    if (!domain) continue;
    byDomain.set(domain, [...(byDomain.get(domain) ?? []), input]);
  }
  const domains = [...byDomain.keys()];
  const reports: DomainReport[] = new Array(domains.length);
  let next = 0;
  const worker = async () => {
    while (next < domains.length) {
      const index = next++;
      const domain = domains[index]!;
      const report = await checkDomain(domain, byDomain.get(domain) ?? [], options, deps);
      reports[index] = report;
      onReport?.(report, index, domains.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CHECK_CONCURRENCY, domains.length) }, worker));
  return reports;
}

async function checkDomain(
  domain: string,
  recipients: string[],
  options: Partial<SecurityOptions>,
  deps: SecurityDeps,
): Promise<DomainReport> {
  const result = await openSecureSession(domain, options, deps);
  if (result.verdict === 'deliver') await result.session.quit();
  const hosts = result.evidence.map(hostReport);
  const report: DomainReport = {
    domain,
    recipients,
    verdict: result.verdict,
    resolvers: result.domain.resolvers ?? [],
    hosts,
    evidence: { domain: result.domain, hosts: result.evidence },
  };
  if (result.verdict === 'deliver') {
    const passed = result.evidence.find((host) => host.result === 'pass');
    report.method = result.method;
    if (passed?.tls) {
      report.tlsVersion = passed.tls.version;
      report.cipher = passed.tls.cipherStandardName;
      report.keyExchange = passed.tls.keyExchange;
    }
    if (passed?.certificate) report.certificate = passed.certificate;
  } else {
    report.reason = result.reason;
    report.explanation = REASONS[result.reason].explanation;
    report.fix = REASONS[result.reason].fix;
    report.message = result.message;
  }
  return report;
}

function hostReport(host: HostEvidence): HostReport {
  const report: HostReport = {
    host: host.mxHost,
    preference: host.mxPreference,
    result: host.result,
    dnssec: host.dnssec,
    validation: host.validation,
  };
  if (host.address) report.address = host.address;
  if (host.reason) report.reason = host.reason;
  if (host.detail) report.detail = host.detail;
  if (host.policySource) report.method = host.policySource;
  const tls = host.tls ?? host.tlsProbe;
  if (tls) {
    report.tlsVersion = tls.version;
    report.cipher = tls.cipherStandardName;
    report.keyExchange = tls.keyExchange;
  }
  if (host.certificate) report.certificate = host.certificate;
  return report;
}
