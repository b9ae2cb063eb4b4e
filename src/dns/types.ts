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
}

export interface Resolver {
  query<T extends RecordType>(name: string, type: T): Promise<DnsAnswer<T>>;
}

/** `secure` / `insecure` / the failure outcome, the wording used in evidence and record status. */
export function describeAnswer(answer: DnsAnswer): string {
  if (answer.outcome === 'servfail' || answer.outcome === 'timeout') return answer.outcome;
  if (answer.outcome === 'nxdomain' || answer.outcome === 'nodata') return answer.outcome;
  return answer.secure ? 'secure' : 'insecure';
}

/** A resolver to send queries to: an IP address (never a name) and a port. */
export interface DnsServer {
  host: string;
  port: number;
}
