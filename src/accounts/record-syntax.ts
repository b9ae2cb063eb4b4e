// Reading SPF, DKIM and DMARC records the way receivers do, so a published record is judged
// by what it means, not byte for byte: TXT strings are already joined by the DNS client,
// tag order and whitespace do not matter, SPF mechanisms may come in any order before `all`.

/** RFC 7208 4.5: a record is SPF when it starts with exactly this version term. */
export function isSpfRecord(text: string): boolean {
  return /^v=spf1(\s|$)/i.test(text.trim());
}

/** RFC 7489 6.4: the record must start with the v tag. */
export function isDmarcRecord(text: string): boolean {
  return /^v\s*=\s*DMARC1\s*(;|$)/i.test(text.trim());
}

export type TagList = { ok: true; tags: Map<string, string> } | { ok: false; problem: string };

/** A DKIM/DMARC tag-list (RFC 6376 3.2): `name=value` separated by `;`, whitespace ignored. */
export function parseTagList(text: string): TagList {
  const tags = new Map<string, string>();
  for (const part of text.split(';')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq < 0) return { ok: false, problem: `"${part.trim()}" is not a name=value tag` };
    const name = part.slice(0, eq).trim().toLowerCase();
    if (!/^[a-z][a-z0-9_]*$/.test(name)) return { ok: false, problem: `bad tag name "${name}"` };
    if (tags.has(name)) return { ok: false, problem: `the tag ${name}= appears twice` };
    tags.set(name, part.slice(eq + 1).trim());
  }
  return { ok: true, tags };
}

export type Comparison = { match: true } | { match: false; problem: string };

/** Whether a DKIM key record publishes exactly this public key (RFC 6376 3.6.1). */
export function compareDkim(
  found: string,
  expected: { algorithm: string; publicKey: string },
): Comparison {
  const parsed = parseTagList(found);
  if (!parsed.ok)
    return {
      match: false,
      problem: `the record is not a valid DKIM key record: ${parsed.problem}`,
    };
  const { tags } = parsed;
  const version = tags.get('v');
  if (version !== undefined && version !== 'DKIM1') {
    return { match: false, problem: `v=${version} where v=DKIM1 is required` };
  }
  const algorithm = (tags.get('k') ?? 'rsa').toLowerCase();
  if (algorithm !== expected.algorithm) {
    return { match: false, problem: `k=${algorithm} where k=${expected.algorithm} is expected` };
  }
  const key = tags.get('p');
  if (key === undefined) return { match: false, problem: 'the record has no p= (public key) tag' };
  // Whitespace inside the base64 of p= is allowed (RFC 6376 3.6.1: FWS in base64string).
  const compact = key.replace(/\s+/g, '');
  if (compact === '') return { match: false, problem: 'the key is revoked (empty p=)' };
  if (compact === expected.publicKey) return { match: true };
  if (expected.publicKey.startsWith(compact)) {
    return {
      match: false,
      problem:
        `the key is cut off: ${compact.length} of ${expected.publicKey.length} characters of p= ` +
        'were published. Long values must be entered whole; the DNS panel splits them into strings.',
    };
  }
  return { match: false, problem: 'p= holds a different public key' };
}

/** An SPF term in a canonical form: default `+` qualifier dropped, lower case, host prefixes whole. */
function canonicalSpfTerm(term: string): string {
  let t = term.toLowerCase();
  if (t.startsWith('+')) t = t.slice(1);
  const ip = /^(ip4|ip6):(.+?)(\/(\d+))?$/.exec(t);
  if (ip) {
    const full = ip[1] === 'ip4' ? '32' : '128';
    const prefix = ip[4] === undefined || ip[4] === full ? '' : `/${ip[4]}`;
    return `${ip[1]}:${ip[2]}${prefix}`;
  }
  return t;
}

const ALL = /^[+?~-]?all$/i;

/**
 * Whether an SPF record authorizes everything the expected one does: each expected mechanism
 * present, in any order, and an `all` that is `~all` or `-all` (not `+all`/`?all`).
 */
export function compareSpf(found: string, expected: string): Comparison {
  const terms = found.trim().split(/\s+/).slice(1).map(canonicalSpfTerm);
  const wanted = expected
    .trim()
    .split(/\s+/)
    .slice(1)
    .filter((t) => !ALL.test(t))
    .map(canonicalSpfTerm);
  const missing = wanted.filter((t) => !terms.includes(t));
  const allIndex = terms.findIndex((t) => ALL.test(t));
  if (missing.length > 0) return { match: false, problem: `it lacks ${missing.join(' ')}` };
  if (allIndex >= 0 && allIndex < terms.length - 1) {
    // Receivers stop at `all`: anything after it is never evaluated.
    const after = terms.slice(allIndex + 1).filter((t) => !t.includes('='));
    if (after.length > 0)
      return { match: false, problem: `${after.join(' ')} comes after "all" and is ignored` };
  }
  const all = allIndex >= 0 ? terms[allIndex]! : undefined;
  if (all === 'all' || all === '?all') {
    return { match: false, problem: `"${all}" lets anyone send; end the record with ~all or -all` };
  }
  if (all === undefined && !terms.some((t) => t.startsWith('redirect='))) {
    return { match: false, problem: 'the record has no ~all or -all at the end' };
  }
  return { match: true };
}

export type DmarcPolicy = 'none' | 'quarantine' | 'reject';

export type DmarcReading =
  | { ok: true; policy: DmarcPolicy; tags: Map<string, string> }
  | { ok: false; problem: string };

/** A DMARC record (RFC 7489 6.3): v first, a valid p=. */
export function readDmarc(text: string): DmarcReading {
  if (!isDmarcRecord(text)) return { ok: false, problem: 'it does not start with v=DMARC1' };
  const parsed = parseTagList(text);
  if (!parsed.ok) return { ok: false, problem: parsed.problem };
  const policy = parsed.tags.get('p')?.toLowerCase();
  if (policy === undefined) return { ok: false, problem: 'it has no p= (policy) tag' };
  if (policy !== 'none' && policy !== 'quarantine' && policy !== 'reject') {
    return { ok: false, problem: `p=${policy} is not none, quarantine or reject` };
  }
  return { ok: true, policy, tags: parsed.tags };
}

/**
 * What an existing, valid DMARC record means for mail we send. Our DKIM signature uses
 * d=<domain>, which aligns under strict and relaxed DKIM alignment, so any valid record is
 * compatible; the explanation says what the receiver will do.
 */
export function explainDmarc(reading: Extract<DmarcReading, { ok: true }>): string {
  const parts = [`Found an existing DMARC record with p=${reading.policy}; it is compatible`];
  parts.push('(our DKIM signatures use d= your domain, so DMARC passes through DKIM alignment)');
  if (reading.tags.get('aspf')?.toLowerCase() === 's') {
    parts.push(
      '- aspf=s: SPF of the bounce subdomain does not align strictly, DKIM alone carries DMARC',
    );
  }
  if (reading.policy === 'none') {
    parts.push('- p=none only monitors; consider p=quarantine once reports look clean');
  }
  return `${parts.join(' ')}.`;
}
