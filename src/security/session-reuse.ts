// May a session that is already verified carry mail for another recipient domain? Only when
// that domain's own assessment asks for exactly what the session passed: the same MX host,
// the same authentication method, and the same check succeeding again for this domain
// (DANE-TA may have matched the *recipient domain's* name, and a domain's TLSA or MTA-STS
// policy can differ from the one the session was opened for). The check reads the
// certificates of the live TLS session; no new handshake is made.
import type { X509Certificate } from 'node:crypto';
import { certificateNamesHost, nameSourcesFor } from './certificate-names.ts';
import { isValidAt } from './certificates.ts';
import { daneNames, verifyDane } from './dane.ts';
import type { JudgedHost } from './host-assessment.ts';
import type { SmtpClient } from './smtp-client.ts';

export type ReuseDecision = { ok: true; detail: string } | { ok: false; detail: string };

export function sessionSatisfies(
  session: SmtpClient,
  /** The certificates the session was verified with (connectHost's `chain`). */
  chain: readonly X509Certificate[],
  host: JudgedHost,
  recipientDomain: string,
  now: Date,
): ReuseDecision {
  const socket = session.tlsSocket;
  if (!session.verified || socket === undefined || socket.destroyed) {
    return { ok: false, detail: 'the session is not open and verified' };
  }
  const mxHost = host.host.host;
  if (session.options.host.toLowerCase() !== mxHost.toLowerCase()) {
    return { ok: false, detail: `the session is with ${session.options.host}, not ${mxHost}` };
  }
  if (!host.addresses.includes(session.options.address)) {
    return { ok: false, detail: `${session.options.address} is not an address of ${mxHost} now` };
  }
  if (session.method !== host.method) {
    return {
      ok: false,
      detail: `the session passed ${session.method}, ${recipientDomain} requires ${host.method}`,
    };
  }
  return chainSatisfies(chain, socket.authorized, host, recipientDomain, now, 'session reused');
}

/**
 * Whether certificates verified earlier (by this engine, on a live session or a handshake
 * whose TLS session is resumed now) still satisfy `host` as `recipientDomain`'s assessment
 * judges it now: DANE against the domain's TLSA records now, PKIX and MTA-STS against the
 * validity now and the host name; `authorized` is OpenSSL's chain validation at the time.
 */
export function chainSatisfies(
  chain: readonly X509Certificate[],
  authorized: boolean,
  host: JudgedHost,
  recipientDomain: string,
  now: Date,
  /** How the verified certificates are used again, for the evidence line. */
  how: string,
): ReuseDecision {
  const mxHost = host.host.host;
  switch (host.method) {
    case 'dane': {
      const names = daneNames({ tlsaBase: host.tlsaBase, mxHost, recipientDomain });
      const dane = verifyDane(host.tlsa, chain, names, now);
      return dane.ok
        ? { ok: true, detail: `dane: ${dane.detail} ${dane.matched} (${how})` }
        : { ok: false, detail: `dane: ${dane.detail}` };
    }
    case 'mta-sts':
    case 'pkix': {
      // The host is listed in the domain's enforce policy (assessHost checked that). The
      // chain was validated by OpenSSL in the handshake (socket.authorized); the leaf must
      // still be valid now and name the host (as judgePkix checked when it was opened).
      const leaf = chain[0];
      if (leaf === undefined) return { ok: false, detail: 'no certificate was presented' };
      if (!authorized) return { ok: false, detail: 'the chain was not validated' };
      if (!isValidAt(leaf, now)) return { ok: false, detail: `valid until ${leaf.validTo}` };
      if (!certificateNamesHost(leaf, mxHost, nameSourcesFor(host.method))) {
        return { ok: false, detail: `${mxHost} is not a name of the certificate` };
      }
      return {
        ok: true,
        detail: `${host.method}: chain, validity and name ok (${how})`,
      };
    }
    default: {
      const never: never = host.method;
      throw new Error(`unknown method ${String(never)}`);
    }
  }
}
