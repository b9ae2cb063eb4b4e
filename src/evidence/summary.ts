// The stored evidence of an attempt (record.ts) is a full record per host tried; status
// views and exports show this summary of it: where the message went, how that server was
// authenticated, and over which TLS parameters.

import type { StoredEvidence } from './record.ts';

export interface EvidenceSummary {
  mx_host: string | null;
  ip: string | null;
  authentication: string | null;
  tls_version: string | null;
  cipher: string | null;
  key_exchange: string | null;
  certificate_sha256: string | null;
  certificate_issuer: string | null;
  dnssec_mx: string | null;
  mta_sts: string | null;
  /** Every host tried, with its result and reason, e.g. `mx1.example.nl 192.0.2.1 fail starttls-not-supported`. */
  hosts_tried: string[];
}

export function summariseEvidence(json: string): EvidenceSummary {
  let stored: StoredEvidence = {};
  try {
    stored = JSON.parse(json) as StoredEvidence;
  } catch {
    // An unreadable record still yields a (blank) summary; the raw JSON stays in the export.
  }
  const hosts = stored.hosts ?? [];
  const used = [...hosts].reverse().find((h) => h.result === 'pass') ?? hosts.at(-1);
  return {
    mx_host: used?.mxHost ?? null,
    ip: used?.address ?? null,
    authentication:
      stored.authentication ?? (used?.result === 'pass' ? (used.policySource ?? null) : null),
    tls_version: used?.tls?.version ?? null,
    cipher: used?.tls?.cipherStandardName ?? used?.tls?.cipher ?? null,
    key_exchange: used?.tls?.keyExchange ?? null,
    certificate_sha256: used?.certificate?.sha256 ?? null,
    certificate_issuer: used?.certificate?.issuer ?? null,
    dnssec_mx: stored.domain?.mx?.dnssec ?? null,
    mta_sts: stored.domain?.mtaSts?.policy?.mode ?? null,
    hosts_tried: hosts.map((h) =>
      [h.mxHost, h.address ?? '-', h.result, h.reason ?? ''].join(' ').trim(),
    ),
  };
}
