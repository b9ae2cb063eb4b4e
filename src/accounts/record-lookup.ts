// Looks up the records an account must publish and compares them with what it should have,
// one result per record (the lookup step of domain verification, verification.ts):
// `success`, `failed` (with what was found instead and a hint for the usual mistakes), or
// `transient` (timeout/SERVFAIL: nothing can be concluded, the caller keeps the old state and
// shows what the resolver did).

import { type DnsAnswer, describeFailure, type RecordType, type Resolver } from '../dns/index.ts';
import type { Account } from '../store/schema.ts';
import type { ExpectedRecord, RecordResult } from './dns-records.ts';
import {
  compareDkim,
  compareSpf,
  explainDmarc,
  isDmarcRecord,
  isSpfRecord,
  readDmarc,
} from './record-syntax.ts';

export type RecordLookup = RecordResult | { status: 'transient'; detail: string };

/** Asks each (name, type) once per check, however many records share it. */
class Lookups {
  readonly #resolver: Resolver;
  readonly #asked = new Map<string, Promise<DnsAnswer>>();
  constructor(resolver: Resolver) {
    this.#resolver = resolver;
  }
  get<T extends RecordType>(name: string, type: T): Promise<DnsAnswer<T>> {
    const key = `${name} ${type}`;
    let answer = this.#asked.get(key);
    if (answer === undefined) {
      answer = this.#resolver.query(name, type);
      this.#asked.set(key, answer);
    }
    return answer as Promise<DnsAnswer<T>>;
  }
}

function isTransient(answer: DnsAnswer): boolean {
  return answer.outcome === 'servfail' || answer.outcome === 'timeout';
}

/**
 * A lookup that failed says nothing about the record: which resolver was asked what, and what
 * it did, so that a broken resolver (or a broken zone) never reads like a missing record.
 */
function transient(answer: DnsAnswer): RecordLookup {
  return {
    status: 'transient',
    detail: `Could not look up ${describeFailure(answer)}. This says nothing about the record: the DNS lookup itself failed (the resolver, or the name servers or DNSSEC signatures of the domain).`,
  };
}

function absent(answer: DnsAnswer): string {
  if (answer.outcome === 'nxdomain') return `${answer.name} does not exist in DNS.`;
  return `${answer.name} has no ${answer.type} record.`;
}

function quoted(values: string[]): string {
  return values.map((v) => `"${v.length > 120 ? `${v.slice(0, 117)}...` : v}"`).join(', ');
}

/** Whether a found record set holds the expected record; used for the main name and for hints. */
type Matcher<T extends 'MX' | 'TXT'> = (records: DnsAnswer<T>['records']) => boolean;

/**
 * Hints for a record not found where it belongs: a CNAME in its place, the domain appended
 * twice by the DNS panel, or the record put at the apex. Hint lookups that fail say nothing.
 */
async function hints<T extends 'MX' | 'TXT'>(
  lookups: Lookups,
  account: Account,
  record: ExpectedRecord,
  answer: DnsAnswer<T>,
  matches: Matcher<T>,
): Promise<string[]> {
  const found: string[] = [];
  const type = record.type as T;
  if (answer.canonicalName !== answer.name) {
    found.push(
      `${record.hostname} is a CNAME to ${answer.canonicalName}; a ${record.type} record is needed at ${record.hostname} itself (remove the CNAME).`,
    );
  }
  const relative = record.hostname.slice(0, -(account.domain.length + 1));
  const doubled = `${record.hostname}.${account.domain}`;
  const twice = await lookups.get(doubled, type);
  if (twice.outcome === 'ok' && matches(twice.records)) {
    found.push(
      `The record was found at ${doubled}: the domain was appended twice. Most DNS panels add the domain themselves; enter only "${relative}" as the name.`,
    );
  }
  if (record.hostname !== account.domain) {
    const apex = await lookups.get(account.domain, type);
    if (apex.outcome === 'ok' && matches(apex.records)) {
      found.push(
        `The record was found at the apex ${account.domain} instead of ${record.hostname}; it belongs at "${relative}".`,
      );
    }
  }
  return found;
}

function failed(problem: string, hintList: string[]): RecordLookup {
  return { status: 'failed', detail: [problem, ...hintList].join(' ') };
}

/**
 * One record group's comparison, given the answer for the record's own name; a lookup that
 * failed never reaches it (see `lookUp`).
 */
type Check<T extends 'MX' | 'TXT'> = (
  answer: DnsAnswer<T>,
  lookups: Lookups,
  account: Account,
  record: ExpectedRecord,
) => Promise<RecordLookup>;

/** Looks up the record's own name and compares; a failed lookup is transient, whatever the group. */
async function lookUp<T extends 'MX' | 'TXT'>(
  lookups: Lookups,
  account: Account,
  record: ExpectedRecord,
  type: T,
  check: Check<T>,
): Promise<RecordLookup> {
  const answer = await lookups.get(record.hostname, type);
  if (isTransient(answer)) return transient(answer);
  return check(answer, lookups, account, record);
}

const checkMx: Check<'MX'> = async (answer, lookups, account, record) => {
  const ours: Matcher<'MX'> = (records) => records.some((mx) => mx.exchange === record.value);
  if (answer.outcome === 'ok' && ours(answer.records)) return { status: 'success' };
  const problem =
    answer.outcome === 'ok'
      ? `${record.hostname} has MX ${answer.records.map((mx) => `${mx.preference} ${mx.exchange || '.'}`).join(', ')}, but not ${record.value}.`
      : absent(answer);
  const hintList = await hints(lookups, account, record, answer, ours);
  if (hintList.some((h) => h.includes('at the apex'))) {
    hintList.push(
      'Do not point the apex MX at us: it receives your own mail. Only the bounce subdomain does.',
    );
  }
  return failed(problem, hintList);
};

const checkSpf: Check<'TXT'> = async (answer, lookups, account, record) => {
  const authorizes: Matcher<'TXT'> = (records) =>
    records.some((r) => isSpfRecord(r) && compareSpf(r, record.value).match);
  const spf = answer.records.filter(isSpfRecord);
  if (spf.length > 1) {
    return failed(
      `${record.hostname} has ${spf.length} SPF (v=spf1) records: ${quoted(spf)}. Receivers treat that as a permanent error (RFC 7208 3.2); merge them into one record.`,
      [],
    );
  }
  const [only] = spf;
  if (only !== undefined) {
    const comparison = compareSpf(only, record.value);
    if (comparison.match) return { status: 'success' };
    return failed(`Found "${only}" at ${record.hostname}, but ${comparison.problem}.`, []);
  }
  const problem =
    answer.outcome === 'ok'
      ? `${record.hostname} has TXT records, but none is an SPF record (v=spf1).`
      : absent(answer);
  return failed(problem, await hints(lookups, account, record, answer, authorizes));
};

const checkDkim: Check<'TXT'> = async (answer, lookups, account, record) => {
  const expected = record.dkim;
  if (expected === undefined) throw new Error(`record ${record.key} has no key`);
  const ours: Matcher<'TXT'> = (records) => records.some((r) => compareDkim(r, expected).match);
  // A DKIM record may be reached through a CNAME (as some providers do it): the resolver
  // follows it, and what counts is the TXT at the end.
  if (answer.outcome === 'ok') {
    const keyRecords = answer.records.filter((r) => /(^|;)\s*(v|p|k)\s*=/i.test(r));
    if (keyRecords.length === 1 && ours(keyRecords)) return { status: 'success' };
    if (keyRecords.length > 1) {
      return failed(
        `${record.hostname} has ${keyRecords.length} DKIM key records; keep exactly one, the expected value.`,
        [],
      );
    }
    const [one] = keyRecords;
    if (one !== undefined) {
      const comparison = compareDkim(one, expected);
      const problem = comparison.match ? 'it is not the only key record' : comparison.problem;
      return failed(`The DKIM record at ${record.hostname} does not match: ${problem}.`, []);
    }
  }
  const problem =
    answer.outcome === 'ok'
      ? `${record.hostname} has TXT records, but no DKIM key record.`
      : absent(answer);
  return failed(problem, await hints(lookups, account, record, answer, ours));
};

const checkDmarc: Check<'TXT'> = async (answer, lookups, account, record) => {
  const dmarc = answer.records.filter(isDmarcRecord);
  if (dmarc.length > 1) {
    return failed(
      `${record.hostname} has ${dmarc.length} DMARC records: ${quoted(dmarc)}. Receivers then apply none of them (RFC 7489 6.6.3); keep one.`,
      [],
    );
  }
  const [existing] = dmarc;
  if (existing !== undefined) {
    const reading = readDmarc(existing);
    if (reading.ok) return { status: 'success', detail: explainDmarc(reading), found: existing };
    return failed(`The DMARC record "${existing}" is not valid: ${reading.problem}.`, []);
  }
  const hintList = await hints(lookups, account, record, answer, (records) =>
    records.some(isDmarcRecord),
  );
  return failed(
    `No DMARC record at ${record.hostname}. Publishing one is recommended; it is not required for the domain to become valid.${record.advice === undefined ? '' : ` ${record.advice}`}`,
    hintList,
  );
};

const checkOwnership: Check<'TXT'> = async (answer, lookups, account, record) => {
  // Surrounding quotes are a common paste mistake that some panels keep literally.
  const clean = (r: string) => r.trim().replace(/^"(.*)"$/, '$1');
  const ours: Matcher<'TXT'> = (records) => records.some((r) => clean(r) === record.value);
  if (answer.outcome === 'ok' && ours(answer.records)) return { status: 'success' };
  const prefix = record.value.slice(0, record.value.indexOf('=') + 1);
  const others = answer.records.filter((r) => clean(r).startsWith(prefix));
  const problem =
    others.length > 0
      ? `Found ${quoted(others)} at ${record.hostname}, not the token of this account (another account's token, or an old one?).`
      : answer.outcome === 'ok'
        ? `${record.hostname} has TXT records, but not the ownership token.`
        : absent(answer);
  return failed(problem, await hints(lookups, account, record, answer, ours));
};

/** Checks every record against DNS; the map is keyed by `ExpectedRecord.key`. */
export async function lookUpRecords(
  resolver: Resolver,
  account: Account,
  records: readonly ExpectedRecord[],
): Promise<Map<string, RecordLookup>> {
  const lookups = new Lookups(resolver);
  const results = await Promise.all(
    records.map(async (record): Promise<[string, RecordLookup]> => {
      switch (record.group) {
        case 'mx':
          return [record.key, await lookUp(lookups, account, record, 'MX', checkMx)];
        case 'spf':
          return [record.key, await lookUp(lookups, account, record, 'TXT', checkSpf)];
        case 'dkim':
          return [record.key, await lookUp(lookups, account, record, 'TXT', checkDkim)];
        case 'dmarc':
          return [record.key, await lookUp(lookups, account, record, 'TXT', checkDmarc)];
        case 'ses':
          return [record.key, await lookUp(lookups, account, record, 'TXT', checkOwnership)];
        default: {
          const never: never = record.group;
          throw new Error(`unknown record group ${String(never)}`);
        }
      }
    }),
  );
  return new Map(results);
}
