// The evidence record of SECURITY_POLICY.md: what a sender shows an auditor about every
// attempt. Glossary: a *recipient domain* has *MX hosts*; each host has addresses; one
// *attempt* is one connection to one address; the *verdict* (deliver/refuse/defer) is for
// the domain, each host attempt has a *result* (pass/fail) with a *reason*.

import type { AuthMethod, PolicyLevel } from '../vocabulary/policy-levels.ts';
import type { ReasonCode } from '../vocabulary/reasons.ts';
import type { Verdict } from '../vocabulary/verdicts.ts';
import type { CertificateSummary } from './certificates.ts';
import type { StsMode } from './mta-sts-policy.ts';
import type { TranscriptEntry } from './smtp-client.ts';
import type { TlsParameters } from './tls-policy.ts';

export interface HostEvidence {
  recipientDomain: string;
  mxHost: string;
  mxPreference: number;
  implicitMx: boolean;
  /** Absent when the host failed before an address was tried (DNS, policy). */
  address?: string;
  port?: number;
  dnssec: { mx: string; address?: string; tlsa?: string };
  /** The authentication method this host had to pass. */
  policySource?: AuthMethod;
  tlsa?: { name: string; records: string[]; usable: number; matched?: string };
  mtaSts?: { id: string; mode: StsMode; mx: string[] };
  tls?: TlsParameters;
  /** Parameters seen by the diagnostic handshake after a refused one (nothing is sent). */
  tlsProbe?: TlsParameters;
  certificate?: CertificateSummary;
  /** Certificates above the leaf, as summaries. */
  chain?: CertificateSummary[];
  /** One line per check made, e.g. `dane: DANE-EE match 3 1 1 ab...`. */
  validation: string[];
  /**
   * Set when the server resumed a TLS session of an earlier full handshake that this engine
   * verified (tls-resumption.ts): `certificate` and `chain` are from that handshake.
   */
  resumed?: { verifiedAt: string };
  /** Hex of bytes received after 220 to STARTTLS and discarded (response injection). */
  injectedAfterStartTls?: string;
  transcript: TranscriptEntry[];
  startedAt: string;
  finishedAt: string;
  result: 'pass' | 'fail';
  reason?: ReasonCode;
  detail?: string;
}

export interface DomainEvidence {
  recipientDomain: string;
  policyLevel: PolicyLevel;
  startedAt: string;
  finishedAt: string;
  /**
   * The resolvers the answers came from and whether their AD bit is trusted: "DNSSEC
   * secure" means nothing to an auditor without knowing who said so.
   */
  resolvers?: Array<{ address: string; trustAd: boolean }>;
  mx: {
    dnssec: string;
    secure?: boolean;
    hosts: Array<{ host: string; preference: number }>;
    implicit: boolean;
  };
  mtaSts?: {
    txt: 'found' | 'absent' | 'dns-failure';
    txtId?: string;
    txtDnssec: string;
    source: 'fetched' | 'cache' | 'none';
    policy?: { id: string; mode: StsMode; mx: string[]; maxAge: number };
    error?: { reason: ReasonCode; detail: string };
    /** Whether a policy applies could not be known now (TXT or fetch failed, nothing cached). */
    indeterminate?: { reason: ReasonCode; detail: string };
  };
  verdict: Verdict;
  reason?: ReasonCode;
  method?: AuthMethod;
}
