// How the console words and formats what the API returns: recipient statuses and methods in
// plain words, times in the reader's locale, and encoded subjects decoded for reading.

/** Recipient statuses in the order a message moves through them, with plain labels. */
export const STATUSES = [
  { id: 'queued', label: 'Queued', tone: 'neutral' },
  { id: 'deferred', label: 'Deferred (will retry)', tone: 'warn' },
  { id: 'delivered', label: 'Delivered', tone: 'good' },
  { id: 'refused_insecure', label: 'Refused as insecure', tone: 'bad' },
  { id: 'bounced', label: 'Bounced', tone: 'bad' },
  { id: 'failed', label: 'Failed', tone: 'bad' },
  { id: 'expired', label: 'Expired', tone: 'bad' },
  { id: 'suppressed', label: 'Suppressed', tone: 'neutral' },
];

export function statusInfo(id) {
  return STATUSES.find((s) => s.id === id) ?? { id, label: id, tone: 'neutral' };
}

export const DOMAIN_STATES = {
  unverified: { label: 'Waiting for DNS records', tone: 'warn' },
  valid: { label: 'Valid: ready to send', tone: 'good' },
  failed: { label: 'Failed: records not found in time', tone: 'bad' },
};

export const RECORD_STATES = {
  pending: { label: 'Not checked yet', tone: 'neutral' },
  success: { label: 'Found', tone: 'good' },
  failed: { label: 'Missing or wrong', tone: 'bad' },
};

export const POLICY_LEVELS = [
  {
    id: 'verified',
    label: 'Verified (default)',
    help: 'Deliver to servers authenticated by DANE, MTA-STS or a publicly trusted certificate (PKIX).',
  },
  {
    id: 'authenticated',
    label: 'Authenticated',
    help: 'Deliver only to servers authenticated by DANE or MTA-STS; a certificate alone is not enough.',
  },
  {
    id: 'dane-only',
    label: 'DANE only',
    help: 'Deliver only to servers authenticated by DANE (TLSA records in a DNSSEC-signed zone).',
  },
];

export const METHODS = {
  dane: 'DANE',
  'mta-sts': 'MTA-STS',
  pkix: 'PKIX (public CA)',
  unknown: 'Not recorded',
};

/** The DNSSEC status of a DNS answer, as the evidence records it. */
export const DNSSEC = {
  secure: 'secure (signed and validated)',
  insecure: 'insecure (the zone is not signed)',
  bogus: 'bogus (signatures did not validate)',
  indeterminate: 'indeterminate',
};

export const VERDICTS = {
  deliver: { label: 'Delivered', tone: 'good' },
  refuse: { label: 'Refused', tone: 'bad' },
  defer: { label: 'Deferred', tone: 'warn' },
  bounce: { label: 'Bounced', tone: 'bad' },
  fail: { label: 'Failed', tone: 'bad' },
};

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const dateTimeSeconds = new Intl.DateTimeFormat(undefined, {
  dateStyle: 'medium',
  timeStyle: 'medium',
});
const dayFormat = new Intl.DateTimeFormat(undefined, {
  day: 'numeric',
  month: 'short',
  timeZone: 'UTC',
});

export function when(iso, seconds = false) {
  if (!iso) return '—';
  return (seconds ? dateTimeSeconds : dateTime).format(new Date(iso));
}

/** A UTC day (YYYY-MM-DD) as "28 Nov". */
export function day(date) {
  return dayFormat.format(new Date(`${date}T00:00:00Z`));
}

export function count(n) {
  return new Intl.NumberFormat().format(n);
}

export function percent(part, whole) {
  if (whole === 0) return '0%';
  return `${Math.round((part / whole) * 100)}%`;
}

/** A Subject header as stored (RFC 2047 encoded words), as the reader should see it. */
export function decodeSubject(subject) {
  if (subject == null) return '(no subject)';
  return subject
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g, (whole, charset, encoding, text) => {
      try {
        const bytes =
          encoding.toUpperCase() === 'B'
            ? Uint8Array.from(atob(text), (c) => c.charCodeAt(0))
            : quotedPrintableBytes(text.replace(/_/g, ' '));
        return new TextDecoder(charset.toLowerCase()).decode(bytes);
      } catch {
        return whole;
      }
    });
}

function quotedPrintableBytes(text) {
  const bytes = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(text.charCodeAt(i));
    }
  }
  return Uint8Array.from(bytes);
}

/** A long hex fingerprint in groups, so it can be read aloud and compared. */
export function fingerprint(hex) {
  if (!hex) return '—';
  return hex.replace(/(.{4})(?=.)/g, '$1 ');
}

/** Splits an address list typed by a person: commas, semicolons, spaces, new lines. */
export function addressList(text) {
  return text
    .split(/[\s,;]+/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** A date input's value (YYYY-MM-DD) as the start of that UTC day. */
export function dayStart(value) {
  return `${value}T00:00:00.000Z`;
}

export function isoDay(ms) {
  return new Date(ms).toISOString().slice(0, 10);
}
