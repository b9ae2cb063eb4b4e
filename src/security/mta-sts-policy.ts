// MTA-STS (RFC 8461): the TXT record, the policy file, and MX host pattern matching.

/** RFC 8461 3.2: max_age is at most 31557600 seconds (about one year). */
export const MAX_STS_MAX_AGE_SECONDS = 31_557_600;
/** RFC 8461 3.3 suggests a limit on the policy size; 64 KiB is what it names. */
export const MAX_STS_POLICY_OCTETS = 64 * 1024;

export type StsMode = 'enforce' | 'testing' | 'none';

export interface StsPolicy {
  /** The `id` of the TXT record that announced this policy. */
  id: string;
  mode: StsMode;
  /** MX host patterns, lower-case; `*.example.com` matches exactly one extra label. */
  mx: string[];
  maxAge: number;
}

export type TxtResult = { found: true; id: string } | { found: false; detail: string };

const STS_TXT_ID = /^[A-Za-z0-9]{1,32}$/;

/**
 * RFC 8461 3.1: keep the records that start with `v=STSv1`; anything but exactly one such
 * record, or one without a valid id, means the domain has no available policy.
 */
export function parseStsTxt(records: readonly string[]): TxtResult {
  // RFC 8461 3.1: the delimiter is `*WSP ";" *WSP`, so `v=STSv1 ; id=...` is a record too.
  // Missing it would read as "no policy" and switch MTA-STS off for that domain.
  const candidates = records.filter((record) => /^v=STSv1[ \t]*(;|$)/.test(record));
  if (candidates.length !== 1) {
    return { found: false, detail: `${candidates.length} v=STSv1 TXT records` };
  }
  const fields = new Map<string, string>();
  for (const part of candidates[0]!.split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key) fields.set(key, rest.join('='));
  }
  const id = fields.get('id');
  if (!id || !STS_TXT_ID.test(id)) return { found: false, detail: 'TXT record without a valid id' };
  return { found: true, id };
}

export type PolicyParse = { ok: true; policy: StsPolicy } | { ok: false; detail: string };

/** RFC 8461 3.2: `key: value` lines; unknown keys are ignored, `mx` may repeat. */
export function parseStsPolicy(text: string, id: string): PolicyParse {
  let version: string | undefined;
  let mode: string | undefined;
  let maxAge: string | undefined;
  const mx: string[] = [];
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon < 0) return { ok: false, detail: `line without a colon: ${line.slice(0, 60)}` };
    const key = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (key === 'version') version ??= value;
    else if (key === 'mode') mode ??= value;
    else if (key === 'max_age') maxAge ??= value;
    else if (key === 'mx') mx.push(value.toLowerCase().replace(/\.$/, ''));
  }
  if (version !== 'STSv1') return { ok: false, detail: `version is ${version ?? 'missing'}` };
  if (mode !== 'enforce' && mode !== 'testing' && mode !== 'none') {
    return { ok: false, detail: `mode is ${mode ?? 'missing'}` };
  }
  if (!maxAge || !/^\d{1,10}$/.test(maxAge))
    return { ok: false, detail: 'max_age missing or not a number' };
  if (mode !== 'none' && mx.length === 0) return { ok: false, detail: 'no mx patterns' };
  // A larger max_age than the RFC allows is capped rather than rejected.
  const seconds = Math.min(Number(maxAge), MAX_STS_MAX_AGE_SECONDS);
  return { ok: true, policy: { id, mode, mx, maxAge: seconds } };
}

/** RFC 8461 4.1: exact match, or `*.` followed by the host minus its first label. */
export function mxMatches(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase();
  const h = host.toLowerCase().replace(/\.$/, '');
  if (!p.startsWith('*.')) return p === h;
  const firstDot = h.indexOf('.');
  return firstDot > 0 && h.slice(firstDot + 1) === p.slice(2);
}

export function policyAllowsHost(policy: StsPolicy, host: string): boolean {
  return policy.mx.some((pattern) => mxMatches(pattern, host));
}
