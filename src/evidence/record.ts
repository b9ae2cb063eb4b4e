// The evidence record of an attempt (SECURITY_POLICY.md): what a sender shows an auditor
// about every attempt. It is made here and read here (summary.ts, history.ts, export.ts);
// the security engine supplies the domain's assessment and the hosts tried
// (src/security/evidence.ts), the worker says which session and recipient it was for, and
// the recipient lifecycle stores it with the attempt's outcome (src/recipients/attempts.ts).
//
// An attempt's record is one JSON object in two parts: the attempt's own members (the
// recipient, the authentication method) and the members it shares with every attempt of its
// session and domain (the assessment, the hosts, the reused session), which are serialised
// and stored once (the store's session_evidence table) and joined back on every read.

import { randomUUIDv7 } from 'node:crypto';
import type { DomainEvidence, HostEvidence } from '../security/evidence.ts';
import type { AttemptRecord, SharedEvidence } from '../store/delivery.repository.ts';
import type { AuthMethod } from '../vocabulary/policy-levels.ts';

/** An attempt's whole record, as stored (both parts joined) and exported. */
export interface StoredEvidence {
  /** The attempt's own: the recipient address it was for. */
  recipient?: string;
  /** The attempt's own, when a message was sent: how the server was authenticated. */
  authentication?: AuthMethod;
  /** Shared: the recipient domain's assessment. */
  domain?: DomainEvidence;
  /** Shared: every host tried, in order; the last one that passed is the one used. */
  hosts?: HostEvidence[];
  /** Shared: how a pooled session was found fit for this domain (src/delivery/pool-source.ts). */
  reusedSession?: object;
}

/**
 * The evidence every attempt of one group shares (the domain's assessment, the hosts tried
 * and the session used), serialised once and stored once per session and domain.
 */
export function sessionEvidence(
  domain: DomainEvidence,
  hosts: HostEvidence[],
  reused?: object,
): SharedEvidence {
  const json = JSON.stringify({ domain, hosts, ...(reused ? { reusedSession: reused } : {}) });
  // The host used is the last one that passed (as summary.ts reads it).
  const tlsVersion = hosts.findLast((h) => h.result === 'pass')?.tls?.version;
  return { id: randomUUIDv7(), json, tlsVersion };
}

/** What the attempt's record holds as it is, `reply` formatted (src/security/smtp-reply.ts). */
type RecordedFacts = 'startedAt' | 'endedAt' | 'verdict' | 'reason' | 'mxHost' | 'reply';

export interface AttemptFacts extends Pick<AttemptRecord, RecordedFacts> {
  recipient: string;
  /** Set when a message was sent on an authenticated session. */
  authentication?: AuthMethod;
  /** The group's shared part (sessionEvidence). */
  session: SharedEvidence;
}

/** One attempt's record: its own part serialised, the shared part referred to. */
export function attemptRecord(facts: AttemptFacts): AttemptRecord {
  return {
    id: randomUUIDv7(),
    startedAt: facts.startedAt,
    endedAt: facts.endedAt,
    verdict: facts.verdict,
    reason: facts.reason,
    mxHost: facts.mxHost,
    reply: facts.reply,
    evidenceJson:
      facts.authentication === undefined
        ? JSON.stringify({ recipient: facts.recipient })
        : // Written by hand: this runs once per message sent.
          `{"recipient":${JSON.stringify(facts.recipient)},"authentication":${JSON.stringify(facts.authentication)}}`,
    sharedEvidence: facts.session,
    authentication: facts.authentication,
  };
}
