// DNS messages on the wire: building our queries and reading replies into plain records.
// dns-packet does the byte work; this module decides which flags we send and which parts
// of a reply we believe.

import * as dnsPacket from 'dns-packet';
import { normaliseName } from './names.ts';
import type { RecordData, RecordType } from './types.ts';

/** The DNS Flag Day 2020 payload size: large enough for most answers, small enough to avoid IP fragmentation. */
export const EDNS_UDP_PAYLOAD = 1232;

export const RCODE_NOERROR = 0;
export const RCODE_NXDOMAIN = 3;

const RCODE_MASK = 0xf;
const RCODE_BITS = 4;
export const MAX_QUERY_ID = 0xffff;

/** One answer-section record of a type we understand, owner normalised. */
export type AnswerRecord = {
  [T in RecordType]: { owner: string; ttl: number; type: T; data: RecordData[T] };
}[RecordType];

export interface Reply {
  id: number;
  /** Including the EDNS0 extended bits. */
  rcode: number;
  truncated: boolean;
  authenticData: boolean;
  records: AnswerRecord[];
  /** RFC 2308 3: min(SOA TTL, SOA MINIMUM) from the authority section, when present. */
  negativeTtl: number | undefined;
  /** RFC 8914 Extended DNS Error, when the server gave one (e.g. 6 "DNSSEC Bogus"). */
  extendedError: ExtendedError | undefined;
}

export interface ExtendedError {
  code: number;
  /** The registry's name for the code, then the server's own text when it sent one. */
  text: string;
}

/** EDNS option code of an Extended DNS Error (RFC 8914). */
const OPTION_EDE = 15;

/** RFC 8914 4: the info codes a validating resolver reports, named as the registry names them. */
const EDE_NAMES: Readonly<Record<number, string>> = {
  0: 'Other Error',
  1: 'Unsupported DNSKEY Algorithm',
  2: 'Unsupported DS Digest Type',
  3: 'Stale Answer',
  4: 'Forged Answer',
  5: 'DNSSEC Indeterminate',
  6: 'DNSSEC Bogus',
  7: 'Signature Expired',
  8: 'Signature Not Yet Valid',
  9: 'DNSKEY Missing',
  10: 'RRSIGs Missing',
  11: 'No Zone Key Bit Set',
  12: 'NSEC Missing',
  13: 'Cached Error',
  14: 'Not Ready',
  15: 'Blocked',
  16: 'Censored',
  17: 'Filtered',
  18: 'Prohibited',
  19: 'Stale NXDOMAIN Answer',
  20: 'Not Authoritative',
  21: 'Not Supported',
  22: 'No Reachable Authority',
  23: 'Network Error',
  24: 'Invalid Data',
};

/**
 * A recursive query with EDNS0 and the DO bit, so a validating resolver validates and
 * tells us the result, and with AD set, which asks for the AD bit even without DO
 * (RFC 6840 5.7). CD stays clear: we want the resolver to refuse bogus data.
 */
export function encodeQuery(id: number, name: string, type: RecordType): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED | dnsPacket.AUTHENTIC_DATA,
    questions: [{ name, type, class: 'IN' }],
    additionals: [
      {
        name: '.',
        type: 'OPT',
        udpPayloadSize: EDNS_UDP_PAYLOAD,
        extendedRcode: 0,
        ednsVersion: 0,
        flags: dnsPacket.DNSSEC_OK,
        flag_do: true,
        options: [],
      },
    ],
  });
}

/**
 * Decodes `message` if it is the reply to our query (same id, a response, the same
 * question); anything else is `undefined`, so a stray or forged packet is ignored rather
 * than believed.
 */
export function decodeReply(
  message: Buffer,
  id: number,
  name: string,
  type: RecordType,
): Reply | undefined {
  let packet: dnsPacket.DecodedPacket;
  try {
    packet = dnsPacket.decode(message);
  } catch {
    return undefined;
  }
  if (packet.id !== id || !packet.flag_qr) return undefined;
  const questions = packet.questions ?? [];
  const question = questions[0];
  if (
    questions.length !== 1 ||
    question === undefined ||
    question.type !== type ||
    (question.class ?? 'IN') !== 'IN' ||
    question.name.toLowerCase() !== name
  ) {
    return undefined;
  }
  const opt = packet.additionals?.find(
    (record): record is dnsPacket.OptAnswer => record.type === 'OPT',
  );
  const extended = opt ? opt.extendedRcode << RCODE_BITS : 0;
  return {
    id,
    rcode: extended | ((packet.flags ?? 0) & RCODE_MASK),
    truncated: packet.flag_tc,
    authenticData: packet.flag_ad,
    records: (packet.answers ?? []).flatMap(toAnswerRecord),
    negativeTtl: negativeTtl(packet.authorities ?? []),
    extendedError: opt ? extendedError(opt) : undefined,
  };
}

function extendedError(opt: dnsPacket.OptAnswer): ExtendedError | undefined {
  // dns-packet keeps options it does not know as {code, data}; its types only list some.
  for (const option of opt.options as unknown as { code: number; data?: Buffer }[]) {
    if (option.code !== OPTION_EDE || option.data === undefined || option.data.length < 2) continue;
    const code = option.data.readUInt16BE(0);
    // The text is for people, from the server: printable characters only, bounded.
    const extra = option.data
      .subarray(2, 130)
      .toString('utf8')
      .replace(/[^\x20-\x7e]/g, '')
      .trim();
    const name = EDE_NAMES[code] ?? `code ${code}`;
    return { code, text: extra === '' ? name : `${name}: ${extra}` };
  }
  return undefined;
}

function negativeTtl(authorities: dnsPacket.Answer[]): number | undefined {
  for (const record of authorities) {
    if (record.type === 'SOA') {
      return Math.min(record.ttl ?? 0, record.data.minimum ?? 0);
    }
  }
  return undefined;
}

/** Converts one dns-packet record; types we do not ask for (RRSIG, ...) are dropped. */
function toAnswerRecord(record: dnsPacket.Answer): AnswerRecord[] {
  if (record.type === 'OPT' || (record.class ?? 'IN') !== 'IN') return [];
  let owner: string;
  try {
    owner = normaliseName(record.name);
  } catch {
    return [];
  }
  const ttl = record.ttl ?? 0;
  switch (record.type) {
    case 'A':
    case 'AAAA':
      return [{ owner, ttl, type: record.type, data: record.data }];
    case 'CNAME':
      return [{ owner, ttl, type: 'CNAME', data: bareName(record.data) }];
    case 'MX':
      return [
        {
          owner,
          ttl,
          type: 'MX',
          data: {
            preference: record.data.preference ?? 0,
            exchange: bareName(record.data.exchange),
          },
        },
      ];
    case 'TXT':
      return [{ owner, ttl, type: 'TXT', data: joinCharacterStrings(record.data) }];
    case 'TLSA':
      return [
        {
          owner,
          ttl,
          type: 'TLSA',
          data: {
            usage: record.data.usage,
            selector: record.data.selector,
            matchingType: record.data.matchingType,
            // Copy: the decoded buffer is a view into the whole reply message.
            data: Buffer.from(record.data.certificate),
          },
        },
      ];
    default:
      return [];
  }
}

/** Lower-case, no trailing dot; the root name `.` becomes `''` (the null MX target). */
function bareName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/** RFC 7208 3.3: the character-strings of one TXT record are joined without separator. */
function joinCharacterStrings(data: dnsPacket.TxtData): string {
  const parts = Array.isArray(data) ? data : [data];
  return Buffer.concat(
    parts.map((part) => (typeof part === 'string' ? Buffer.from(part) : part)),
  ).toString('utf8');
}
