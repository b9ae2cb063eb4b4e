// The contract between the DNS client and its users (accounts verification, the security
// engine). Everything that asks DNS takes a `Resolver`, so tests pass one that talks to an
// in-process DNS server and production passes the real client.

export type RecordType = 'A' | 'AAAA' | 'MX' | 'TXT' | 'TLSA' | 'CNAME';

export interface MxRecord {
  preference: number;
  /** Lower-case, no trailing dot. `''` for the null MX target `.`. */
  exchange: string;
}

export interface TlsaRecord {
  usage: number;
  selector: number;
  matchingType: number;
  data: Buffer;
}

export interface RecordData {
  A: string;
  AAAA: string;
  MX: MxRecord;
  /** The character-strings of one TXT record joined without separator (RFC 7208 3.3). */
  TXT: string;
  TLSA: TlsaRecord;
  CNAME: string;
}

/**
 * How a query ended.
 * - `ok`: the name has records of this type (`records` is non-empty).
 * - `nodata`: the name exists but has no records of this type.
 * - `nxdomain`: the name does not exist.
 * - `servfail`: the resolver answered SERVFAIL (also how a validating resolver reports
 *   DNSSEC-bogus data), REFUSED, or a malformed answer.
 * - `timeout`: no configured server answered in time.
 */
export type DnsOutcome = 'ok' | 'nodata' | 'nxdomain' | 'servfail' | 'timeout';

export interface DnsAnswer<T extends RecordType = RecordType> {
  /** The name asked, lower-case, no trailing dot. */
  name: string;
  type: T;
  outcome: DnsOutcome;
  /**
   * True only when a configured (trusted) resolver set the AD bit on the answer, meaning
   * the data (or the denial) was DNSSEC-validated. Always false for servfail/timeout.
   */
  secure: boolean;
  records: RecordData[T][];
  /** The owner name at the end of any CNAME chain that was followed. */
  canonicalName: string;
  /** Smallest TTL of the answer's records (seconds); 0 when there are none. */
  ttl: number;
  /**
   * The resolver whose reply this is (`host:port`), or for a failure the last one asked.
   * Reports name it, so an operator can tell a broken resolver from a broken zone.
   */
  server?: string;
  /**
   * Whether that resolver is one whose AD bit we trust (SECUREMAIL_DNS_TRUST_AD). When false,
   * `secure` is false whatever the resolver said, and DNSSEC counts as absent.
   */
  adTrusted?: boolean;
  /** For servfail/timeout: what happened, per resolver, in words ("SERVFAIL from ..."). */
  problem?: string;
}

export interface Resolver {
  query<T extends RecordType>(name: string, type: T): Promise<DnsAnswer<T>>;
  /** The resolvers asked, in order, and whether each one's AD bit is trusted. */
  readonly servers?: readonly ResolverServer[];
}

export interface ResolverServer {
  /** `host:port`, IPv6 in brackets. */
  address: string;
  trustAd: boolean;
}

/** `host:port`, IPv6 in brackets, as reports and logs show a resolver. */
export function serverAddress(server: DnsServer): string {
  return server.host.includes(':')
    ? `[${server.host}]:${server.port}`
    : `${server.host}:${server.port}`;
}

/**
 * How far the AD bit of a resolver is believed (SECUREMAIL_DNS_TRUST_AD):
 * - `auto`: only from resolvers on a loopback address, where nobody sits between the
 *   validating resolver and us (the default);
 * - `always`: from every configured resolver (the operator vouches for the network path);
 * - `never`: from none; DNSSEC then counts as absent and DANE is unavailable.
 */
export type AdTrust = 'auto' | 'always' | 'never';
export const AD_TRUST_MODES: readonly AdTrust[] = ['auto', 'always', 'never'];

/**
 * `secure` / `insecure` / `nxdomain` / `nodata`, or for a failed lookup what happened in words
 * (`SERVFAIL from 127.0.0.1:53 (DNSSEC Bogus: ...)`, `127.0.0.1:53 refused the connection
 * (nothing listens there)`): the wording used in evidence. A refused connection is not a
 * "timeout", whatever the outcome's class.
 */
export function describeAnswer(answer: DnsAnswer): string {
  if (answer.outcome === 'servfail' || answer.outcome === 'timeout') {
    return answer.problem ?? answer.outcome;
  }
  if (answer.outcome === 'nxdomain' || answer.outcome === 'nodata') return answer.outcome;
  return answer.secure ? 'secure' : 'insecure';
}

/**
 * A failed lookup as one line that says which query was asked, of which resolver, and what
 * happened: `MX example.nl: no answer from 127.0.0.1:53 within 2000 ms (2 tries)`. Reports,
 * record statuses, error answers and logs use it, so a broken resolver never reads like a
 * missing record.
 */
export function describeFailure(answer: DnsAnswer): string {
  const fallback =
    answer.outcome === 'timeout'
      ? `no answer${answer.server ? ` from ${answer.server}` : ''} in time`
      : `the resolver${answer.server ? ` ${answer.server}` : ''} could not answer (SERVFAIL)`;
  return `${answer.type} ${answer.name}: ${answer.problem ?? fallback}`;
}

/** A resolver to send queries to: an IP address (never a name) and a port. */
export interface DnsServer {
  host: string;
  port: number;
}
