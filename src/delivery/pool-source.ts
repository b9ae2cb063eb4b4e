// The worker's pool as a SessionSource of the security engine (openSecureSession): the
// engine keeps the order of checks and decides; this offers a pooled session for a host and
// address that the engine's check (sessionSatisfies for this domain) accepts, offers kept
// TLS sessions for resuming new connections (which the engine checks with mayResume), and
// records every new verified connection so it can be pooled after use.

import type { X509Certificate } from 'node:crypto';
import type { HostEvidence } from '../security/evidence.ts';
import type { DomainAssessment, JudgedHost, SessionSource } from '../security/open-session.ts';
import type { ReuseDecision } from '../security/session-reuse.ts';
import type { SmtpClient } from '../security/smtp-client.ts';
import type { ResumableSession, VerifiedHandshake } from '../security/tls-resumption.ts';
import type { PolicyLevel } from '../vocabulary/policy-levels.ts';
import { type PooledSession, type SessionPool, sessionKey } from './session-pool.ts';

/** How a reused session came to be: part of each attempt's evidence. */
export interface ReusedSessionInfo {
  openedFor: string;
  openedAt: string;
  messagesBefore: number;
}

/** One acquisition (one recipient domain at one policy level) over the pool. */
export class PoolSource implements SessionSource {
  /** The session the engine ended with: taken from the pool or newly opened. */
  session: PooledSession | undefined;
  /** Set when the session was taken from the pool. */
  reused: ReusedSessionInfo | undefined;
  readonly #pool: SessionPool;
  readonly #level: PolicyLevel;
  readonly #now: () => number;

  constructor(pool: SessionPool, level: PolicyLevel, now: () => number) {
    this.#pool = pool;
    this.#level = level;
    this.#now = now;
  }

  reuse(
    assessment: DomainAssessment,
    host: JudgedHost,
    address: string,
    satisfies: (client: SmtpClient, chain: readonly X509Certificate[]) => ReuseDecision,
  ): { client: SmtpClient; evidence: HostEvidence } | undefined {
    const key = sessionKey(host.host.host, address, host.method, this.#level);
    let check: ReuseDecision | undefined;
    const pooled = this.#pool.take(key, (p) => {
      check = satisfies(p.session, p.chain);
      return check.ok;
    });
    if (pooled === undefined) return undefined;
    this.session = pooled;
    this.reused = {
      openedFor: pooled.openedFor,
      openedAt: new Date(pooled.openedAt).toISOString(),
      messagesBefore: pooled.messages,
    };
    // The connection's evidence as verified when it was opened, with this domain's own
    // assessment of the host (DNSSEC, TLSA, MTA-STS) and the reuse check's result.
    const evidence: HostEvidence = {
      ...host.base,
      ...pooled.opened,
      recipientDomain: assessment.domainName,
      dnssec: host.base.dnssec,
      ...(host.base.tlsa ? { tlsa: host.base.tlsa } : {}),
      ...(host.base.mtaSts ? { mtaSts: host.base.mtaSts } : {}),
      policySource: host.method,
      validation: [...pooled.opened.validation, check?.ok ? check.detail : 'reused'],
      transcript: [],
      result: 'pass',
    };
    return { client: pooled.session, evidence };
  }

  /**
   * A kept TLS session for a new connection to `address` of `host` (the engine offers it to
   * the server only if mayResume() accepts it for this domain). Kept under the same key as
   * open sessions: host, address, method and policy level.
   */
  resumable(
    _assessment: DomainAssessment,
    host: JudgedHost,
    address: string,
  ): ResumableSession | undefined {
    return this.#pool.tlsSession(sessionKey(host.host.host, address, host.method, this.#level));
  }

  opened(
    assessment: DomainAssessment,
    host: JudgedHost,
    address: string,
    opened: {
      client: SmtpClient;
      evidence: HostEvidence;
      chain: X509Certificate[];
      handshake: VerifiedHandshake;
    },
  ): void {
    // The handshake's transcript is in the evidence now; later commands are not kept.
    opened.client.transcript.length = 0;
    opened.client.recording = false;
    this.session = {
      session: opened.client,
      key: sessionKey(host.host.host, address, host.method, this.#level),
      opened: opened.evidence,
      chain: opened.chain,
      handshake: opened.handshake,
      openedFor: assessment.domainName,
      openedAt: this.#now(),
      messages: 0,
    };
    this.#pool.opened(this.session);
  }
}
