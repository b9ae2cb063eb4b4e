// TLS session resumption for new connections to an MX host seen before. A resumed handshake
// presents no certificate: it proves that the server holds the secret of an earlier session,
// and so is the server of that session. Resuming is therefore only as good as that earlier
// session's verification, and this engine allows it only for a session whose first, full
// handshake passed this very engine's checks for the same MX host, address, SNI, method and
// policy level, not longer than RESUMPTION_MAX_AGE_MS after that handshake, and only when the
// certificates verified then still satisfy the recipient domain's assessment now (the same
// rule as for reusing an open session, session-reuse.ts: DANE against the TLSA records now,
// PKIX and MTA-STS against the validity now and the host name). The evidence of a resumed
// connection is the first handshake's, marked as resumed. A server that declines the
// resumption makes a full handshake, and its certificate is verified as on any other.
//
// Saves per new connection the certificate chain's verification and its reading (about 1 ms
// of CPU here), and the server its signature; a TLS 1.3 resumption still costs one round trip.

import type { X509Certificate } from 'node:crypto';
import type { AuthMethod, PolicyLevel } from '../vocabulary/policy-levels.ts';
import type { HostEvidence } from './evidence.ts';
import type { JudgedHost } from './host-assessment.ts';
import { chainSatisfies, type ReuseDecision } from './session-reuse.ts';

/**
 * How long after its full handshake a TLS session may still be resumed (Postfix:
 * smtp_tls_session_cache_timeout = 3600 s). Resumed sessions do not extend it.
 */
export const RESUMPTION_MAX_AGE_MS = 3_600_000;

/** A full handshake that passed this engine's verification: what a resumption stands on. */
export interface VerifiedHandshake {
  /** MX host name, also the SNI sent. */
  host: string;
  address: string;
  port: number;
  method: AuthMethod;
  level: PolicyLevel;
  /** The certificates that passed, leaf first. */
  chain: readonly X509Certificate[];
  /** OpenSSL's validation of the chain against our CA list in that handshake. */
  authorized: boolean;
  /** When the full handshake was verified (epoch ms). */
  verifiedAt: number;
  /** Its evidence: certificate, chain and the checks that passed. */
  evidence: Pick<HostEvidence, 'certificate' | 'chain' | 'validation'>;
}

/** A TLS session (OpenSSL's serialised session or ticket) and the handshake it came from. */
export interface ResumableSession {
  handshake: VerifiedHandshake;
  session: Buffer;
}

/**
 * Whether `offered` may be resumed for a new connection to `address`:`port` of `host` at `level`
 * for `recipientDomain`: everything the first handshake was verified for must be the same,
 * and its certificates must still satisfy this domain's assessment now.
 */
export function mayResume(
  offered: ResumableSession,
  host: JudgedHost,
  address: string,
  port: number,
  level: PolicyLevel,
  recipientDomain: string,
  now: Date,
): ReuseDecision {
  const first = offered.handshake;
  const mxHost = host.host.host;
  if (first.host.toLowerCase() !== mxHost.toLowerCase()) {
    return { ok: false, detail: `the session was with ${first.host}, not ${mxHost}` };
  }
  if (first.address !== address || first.port !== port) {
    return {
      ok: false,
      detail: `the session was with ${first.address} port ${first.port}, not ${address} port ${port}`,
    };
  }
  if (first.method !== host.method) {
    return {
      ok: false,
      detail: `the session passed ${first.method}, ${recipientDomain} requires ${host.method}`,
    };
  }
  if (first.level !== level) {
    return { ok: false, detail: `the session was verified at level ${first.level}, not ${level}` };
  }
  const age = now.getTime() - first.verifiedAt;
  if (!(age >= 0 && age < RESUMPTION_MAX_AGE_MS)) {
    return { ok: false, detail: 'the session is too old to resume' };
  }
  return chainSatisfies(
    first.chain,
    first.authorized,
    host,
    recipientDomain,
    now,
    `TLS session of ${new Date(first.verifiedAt).toISOString()} resumed`,
  );
}
