// What one MX host of an assessed domain requires, as the assessment (open-session.ts) hands
// it to the session-reuse rule (session-reuse.ts). Its own file so that the rule does not
// import the assessment that calls it.

import type { TlsaRecord } from '../dns/types.ts';
import type { AuthMethod } from '../vocabulary/policy-levels.ts';
import type { HostEvidence } from './evidence.ts';
import type { MxHost } from './mx.ts';

/** What one MX host of an assessed domain requires: its addresses and the method it must pass. */
export type HostAssessment =
  | {
      ok: true;
      host: MxHost;
      addresses: string[];
      method: AuthMethod;
      /** Usable TLSA records when `method` is `dane`. */
      tlsa: TlsaRecord[];
      /**
       * The TLSA base domain (RFC 7672 2.2.2): the host name, or the name at the end of its
       * secure CNAME chain when the TLSA records were found there. A name the certificate
       * may have under DANE-TA, and the SNI sent.
       */
      tlsaBase: string;
      /** Evidence common to every connection to this host. */
      base: HostEvidence;
    }
  | { ok: false; evidence: HostEvidence };

/** A verified host of an assessed domain (assessHost passed). */
export type JudgedHost = Extract<HostAssessment, { ok: true }>;
