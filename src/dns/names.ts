// Domain names as the client handles them: lower-case, no trailing dot, and within the
// RFC 1035 limits. Callers validate user input first; a name that reaches the client in a
// bad shape is a programming error, hence a TypeError rather than an answer.

/** RFC 1035 2.3.4: a label is at most 63 octets. */
export const MAX_LABEL_LENGTH = 63;
/** RFC 1035 2.3.4 allows 255 octets on the wire, which is 253 characters in text form. */
export const MAX_NAME_LENGTH = 253;

const FIRST_PRINTABLE = 0x21;
const LAST_PRINTABLE = 0x7e;
const BACKSLASH = 0x5c;

/**
 * Lower-cases `name`, strips one trailing dot and checks its shape. Only printable ASCII
 * without backslash is accepted: international names must arrive as A-labels (punycode),
 * and we do not support zone-file escapes.
 */
export function normaliseName(name: string): string {
  if (typeof name !== 'string') throw new TypeError('DNS name must be a string');
  const lower = name.toLowerCase();
  const bare = lower.endsWith('.') ? lower.slice(0, -1) : lower;
  if (bare.length === 0) throw new TypeError('DNS name is empty');
  if (bare.length > MAX_NAME_LENGTH) {
    throw new TypeError(`DNS name is longer than ${MAX_NAME_LENGTH} characters: ${bare}`);
  }
  for (let i = 0; i < bare.length; i++) {
    const code = bare.charCodeAt(i);
    if (code < FIRST_PRINTABLE || code > LAST_PRINTABLE || code === BACKSLASH) {
      throw new TypeError(`DNS name has a character that is not allowed: ${JSON.stringify(name)}`);
    }
  }
  for (const label of bare.split('.')) {
    if (label.length === 0) throw new TypeError(`DNS name has an empty label: ${name}`);
    if (label.length > MAX_LABEL_LENGTH) {
      throw new TypeError(`DNS label is longer than ${MAX_LABEL_LENGTH} characters: ${label}`);
    }
  }
  return bare;
}

/**
 * `<prefix>.<name>` (a TLSA or `_mta-sts` name under a host or domain) when DNS can hold it,
 * else undefined. The host or domain comes from a recipient's zone or address and may be
 * valid and yet too long for the prefix (a 245-character MX target): no record can exist at
 * a name longer than RFC 1035 allows, so callers take that as "no such records" instead of
 * letting normaliseName's TypeError end the whole assessment.
 */
export function prefixedName(prefix: string, name: string): string | undefined {
  try {
    return normaliseName(`${prefix}.${name}`);
  } catch {
    return undefined;
  }
}
