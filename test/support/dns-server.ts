// An in-process DNS server for tests. It plays the part of the operator's validating
// resolver: it answers from an in-memory zone that tests change while it runs, sets the AD
// bit for names under "signed" zones, and can be told to fail, stall or truncate. UDP and
// TCP listen on the same ephemeral port on 127.0.0.1, so one `host:port` reaches both.

import * as dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import * as net from 'node:net';
import * as dnsPacket from 'dns-packet';

export type TestRecord =
  | { type: 'A' | 'AAAA' | 'CNAME'; data: string; ttl?: number }
  /** exchange `'.'` or `''` is the null MX (RFC 7505). */
  | { type: 'MX'; preference: number; exchange: string; ttl?: number }
  /** A `string[]` is one record split into several character-strings. */
  | { type: 'TXT'; data: string | string[]; ttl?: number }
  | {
      type: 'TLSA';
      usage: number;
      selector: number;
      matchingType: number;
      data: Buffer;
      ttl?: number;
    };

export type TestRecordType = TestRecord['type'];
/**
 * 'servfail' answers SERVFAIL; 'bogus' answers SERVFAIL with the Extended DNS Error 6
 * "DNSSEC Bogus" (RFC 8914), as unbound does for data whose signatures do not validate.
 */
export type FailureMode = 'servfail' | 'bogus' | 'timeout' | 'refused';
export type Transport = 'udp' | 'tcp';

export interface LoggedQuery {
  name: string;
  type: string;
  transport: Transport;
  dnssecOk: boolean;
  /** Whether the query itself had the AD bit set (RFC 6840 5.7). */
  adRequested: boolean;
}

const DEFAULT_TTL = 300;
const DEFAULT_NEGATIVE_TTL = 60;
/** RFC 1035 2.3.4: a UDP message without EDNS0 is at most 512 bytes. */
const CLASSIC_UDP_LIMIT = 512;
/** A CNAME chain inside the zone longer than this is cut off, as real servers do. */
const SERVER_UDP_PAYLOAD = 1232;
const MAX_SERVER_CHAIN = 16;
const MAX_CHARACTER_STRING = 255;
const BIND_ATTEMPTS = 10;
const ANY = '*';

const RCODE_NOERROR = 0;
const RCODE_SERVFAIL = 2;
const RCODE_NXDOMAIN = 3;
const RCODE_REFUSED = 5;

function normalise(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

function failureKey(name: string, type: string, transport: string): string {
  return `${name}|${type}|${transport}`;
}

function isAtOrUnder(name: string, zone: string): boolean {
  return zone === '' || name === zone || name.endsWith(`.${zone}`);
}

/** Splits a string into character-strings of at most 255 bytes. */
function characterStrings(text: string): Buffer[] {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length === 0) return [Buffer.alloc(0)];
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += MAX_CHARACTER_STRING) {
    parts.push(bytes.subarray(i, i + MAX_CHARACTER_STRING));
  }
  return parts;
}

function toWire(owner: string, record: TestRecord): dnsPacket.Answer {
  const ttl = record.ttl ?? DEFAULT_TTL;
  switch (record.type) {
    case 'A':
    case 'AAAA':
    case 'CNAME':
      return { name: owner, type: record.type, ttl, data: record.data };
    case 'MX':
      return {
        name: owner,
        type: 'MX',
        ttl,
        // dns-packet miscounts the empty name; '.' encodes the same root label.
        data: { preference: record.preference, exchange: record.exchange || '.' },
      };
    case 'TXT': {
      const pieces = typeof record.data === 'string' ? [record.data] : record.data;
      return { name: owner, type: 'TXT', ttl, data: pieces.flatMap(characterStrings) };
    }
    case 'TLSA':
      return {
        name: owner,
        type: 'TLSA',
        ttl,
        data: {
          usage: record.usage,
          selector: record.selector,
          matchingType: record.matchingType,
          certificate: record.data,
        },
      };
    default: {
      const never: never = record;
      throw new Error(`unsupported test record ${JSON.stringify(never)}`);
    }
  }
}

interface Resolution {
  rcode: number;
  answers: dnsPacket.Answer[];
  /** Every owner name the answer touched (the query name and any CNAME targets). */
  names: string[];
  finalName: string;
}

interface Reply {
  /** `undefined`: stay silent (the 'timeout' failure). */
  packet: Buffer | undefined;
}

/** EDNS option code of an Extended DNS Error and its code for DNSSEC-bogus data (RFC 8914). */
const OPTION_EDE = 15;
const EDE_DNSSEC_BOGUS = 6;

export class TestDnsServer {
  readonly host: string;
  readonly port: number;
  /**
   * Extra: whether it plays a validating resolver. When true (the default) it answers the
   * root SOA (`.`) with AD, as a validating resolver does for the signed root zone.
   */
  validating = true;
  readonly queries: LoggedQuery[] = [];
  /** Extra: CNAMEs inside the zone are followed in the answer (as a recursive resolver does). Off = answer only the first CNAME. */
  followCnames = true;
  /** Extra: TTL and SOA minimum of negative answers. */
  negativeTtl = DEFAULT_NEGATIVE_TTL;
  /**
   * Extra: a resolver outage: every query fails this way ('timeout': the resolver is down and
   * says nothing; 'servfail': it answers SERVFAIL to everything). Undefined: answer normally.
   */
  outage: FailureMode | undefined;

  readonly #udp: dgram.Socket;
  readonly #tcp: net.Server;
  readonly #connections = new Set<net.Socket>();
  readonly #zone = new Map<string, TestRecord[]>();
  readonly #signed = new Set<string>();
  readonly #failures = new Map<string, FailureMode>();
  readonly #truncated = new Set<string>();

  private constructor(udp: dgram.Socket, tcp: net.Server, port: number, host: string) {
    this.host = host;
    this.#udp = udp;
    this.#tcp = tcp;
    this.port = port;
    udp.on('message', (message, remote) => {
      const reply = this.#handle(message, 'udp');
      if (reply.packet) udp.send(reply.packet, remote.port, remote.address);
    });
    // A reply to a client that already went away must not crash the test process.
    udp.on('error', () => {});
    tcp.on('connection', (socket) => this.#serveTcp(socket));
  }

  /** Listens on `host` (default 127.0.0.1); another local address tests resolver trust. */
  static async start(host = '127.0.0.1'): Promise<TestDnsServer> {
    // UDP picks the ephemeral port; TCP then takes the same number, which can be in use
    // by someone else's TCP socket, so try a few ports.
    for (let attempt = 0; attempt < BIND_ATTEMPTS; attempt++) {
      const udp = dgram.createSocket('udp4');
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(0, host, () => {
          udp.off('error', reject);
          resolve();
        });
      });
      const port = udp.address().port;
      const tcp = net.createServer();
      const listening = await new Promise<boolean>((resolve) => {
        tcp.once('error', () => resolve(false));
        tcp.listen(port, host, () => resolve(true));
      });
      if (listening) {
        const address = tcp.address() as AddressInfo;
        return new TestDnsServer(udp, tcp, address.port, host);
      }
      await new Promise<void>((resolve) => udp.close(() => resolve()));
    }
    throw new Error('TestDnsServer: no port free for both UDP and TCP');
  }

  get server(): string {
    return `${this.host}:${this.port}`;
  }

  /** Replaces all records of the types given at `name` with `records`. */
  set(name: string, records: TestRecord[]): void {
    const key = normalise(name);
    const types = new Set(records.map((record) => record.type));
    const kept = (this.#zone.get(key) ?? []).filter((record) => !types.has(record.type));
    this.#store(key, [...kept, ...records]);
  }

  add(name: string, record: TestRecord): void {
    const key = normalise(name);
    this.#store(key, [...(this.#zone.get(key) ?? []), record]);
  }

  remove(name: string, type?: TestRecordType): void {
    const key = normalise(name);
    if (type === undefined) {
      this.#zone.delete(key);
      return;
    }
    this.#store(
      key,
      (this.#zone.get(key) ?? []).filter((record) => record.type !== type),
    );
  }

  /** Names at or under this suffix are answered with the AD bit set (as a validating resolver would for a signed zone). */
  sign(zone: string): void {
    this.#signed.add(normalise(zone));
  }

  unsign(zone: string): void {
    this.#signed.delete(normalise(zone));
  }

  /**
   * Make queries for name (any type, or one type) fail: 'servfail' answers SERVFAIL (how a
   * validating resolver reports bogus), 'timeout' never answers, 'refused' answers REFUSED.
   * Extra: `transport` limits the failure to UDP or TCP queries.
   */
  fail(name: string, how: FailureMode, type?: string, transport?: Transport): void {
    const key = failureKey(normalise(name), type?.toUpperCase() ?? ANY, transport ?? ANY);
    this.#failures.set(key, how);
  }

  clearFailures(): void {
    this.#failures.clear();
  }

  /** UDP answers for this name are sent with TC=1 and no answers, forcing TCP. */
  truncateUdp(name: string, on = true): void {
    if (on) this.#truncated.add(normalise(name));
    else this.#truncated.delete(normalise(name));
  }

  /** Extra: how many queries were logged, optionally for one name and type. */
  count(name?: string, type?: string): number {
    return this.queries.filter(
      (query) =>
        (name === undefined || query.name === normalise(name)) &&
        (type === undefined || query.type === type.toUpperCase()),
    ).length;
  }

  reset(): void {
    this.#zone.clear();
    this.#signed.clear();
    this.#failures.clear();
    this.#truncated.clear();
    // Keep the same array: tests may hold a reference to it.
    this.queries.length = 0;
    this.followCnames = true;
    this.negativeTtl = DEFAULT_NEGATIVE_TTL;
    this.validating = true;
    this.outage = undefined;
  }

  async close(): Promise<void> {
    for (const socket of this.#connections) socket.destroy();
    await Promise.all([
      new Promise<void>((resolve) => this.#udp.close(() => resolve())),
      new Promise<void>((resolve) => this.#tcp.close(() => resolve())),
    ]);
  }

  #store(key: string, records: TestRecord[]): void {
    if (records.length === 0) this.#zone.delete(key);
    else this.#zone.set(key, records);
  }

  #serveTcp(socket: net.Socket): void {
    this.#connections.add(socket);
    socket.on('close', () => this.#connections.delete(socket));
    socket.on('error', () => socket.destroy());
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      // RFC 1035 4.2.2: each message is preceded by its two-byte length.
      while (buffered.length >= 2) {
        const length = buffered.readUInt16BE(0);
        if (buffered.length < 2 + length) break;
        const message = buffered.subarray(2, 2 + length);
        buffered = buffered.subarray(2 + length);
        const reply = this.#handle(message, 'tcp');
        if (reply.packet) {
          const framed = Buffer.alloc(2 + reply.packet.length);
          framed.writeUInt16BE(reply.packet.length, 0);
          reply.packet.copy(framed, 2);
          socket.write(framed);
        }
      }
    });
  }

  #handle(message: Buffer, transport: Transport): Reply {
    let query: dnsPacket.DecodedPacket;
    try {
      query = dnsPacket.decode(message);
    } catch {
      return { packet: undefined };
    }
    const question = query.questions?.[0];
    if (!question) return { packet: undefined };
    const opt = query.additionals?.find(
      (record): record is dnsPacket.OptAnswer => record.type === 'OPT',
    );
    const name = normalise(question.name);
    this.queries.push({
      name,
      type: question.type,
      transport,
      dnssecOk: opt?.flag_do ?? false,
      adRequested: query.flag_ad,
    });

    if (name === '' && question.type === 'SOA' && this.outage === undefined) {
      return this.#rootSoa(query, question, opt);
    }
    const resolution = this.#resolve(name, question.type);
    const failure = this.#failureFor(resolution.names, question.type, transport);
    if (failure === 'timeout') return { packet: undefined };

    const truncate = transport === 'udp' && this.#truncated.has(name);
    let rcode = resolution.rcode;
    let answers = resolution.answers;
    if (failure) {
      rcode = failure === 'refused' ? RCODE_REFUSED : RCODE_SERVFAIL;
      answers = [];
    }
    if (truncate) answers = [];
    const secure = !failure && resolution.names.every((owner) => this.#isSigned(owner));
    const negative = !failure && !truncate && answers.length === 0;

    const response: dnsPacket.Packet = {
      type: 'response',
      id: query.id ?? 0,
      flags:
        (query.flag_rd ? dnsPacket.RECURSION_DESIRED : 0) |
        dnsPacket.RECURSION_AVAILABLE |
        (secure ? dnsPacket.AUTHENTIC_DATA : 0) |
        (truncate ? dnsPacket.TRUNCATED_RESPONSE : 0) |
        rcode,
      questions: [question],
      answers,
      authorities: negative ? [this.#soa(resolution.finalName)] : [],
      additionals: opt
        ? [
            {
              name: '.',
              type: 'OPT',
              udpPayloadSize: SERVER_UDP_PAYLOAD,
              extendedRcode: 0,
              ednsVersion: 0,
              flags: opt.flags,
              flag_do: opt.flag_do,
              options:
                failure === 'bogus'
                  ? // dns-packet encodes any option given as {code, data}; its types list a few.
                    ([
                      {
                        code: OPTION_EDE,
                        data: extendedError(EDE_DNSSEC_BOGUS, 'signature crypto failed'),
                      },
                    ] as unknown as dnsPacket.OptAnswer['options'])
                  : [],
            },
          ]
        : [],
    };
    const packet = dnsPacket.encode(response);
    const limit = opt ? Math.max(opt.udpPayloadSize, CLASSIC_UDP_LIMIT) : CLASSIC_UDP_LIMIT;
    if (transport === 'udp' && packet.length > limit) {
      // Too big for the client's buffer: the header and question with TC=1 (RFC 2181 9).
      return {
        packet: dnsPacket.encode({
          ...response,
          flags: (response.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE,
          answers: [],
          authorities: [],
        }),
      };
    }
    return { packet };
  }

  /** The signed root zone's SOA: with AD when this server plays a validating resolver. */
  #rootSoa(
    query: dnsPacket.DecodedPacket,
    question: dnsPacket.Question,
    opt: dnsPacket.OptAnswer | undefined,
  ): Reply {
    return {
      packet: dnsPacket.encode({
        type: 'response',
        id: query.id ?? 0,
        flags:
          (query.flag_rd ? dnsPacket.RECURSION_DESIRED : 0) |
          dnsPacket.RECURSION_AVAILABLE |
          (this.validating ? dnsPacket.AUTHENTIC_DATA : 0),
        questions: [question],
        answers: [
          {
            name: '.',
            type: 'SOA',
            ttl: 86400,
            data: {
              mname: 'a.root-servers.net',
              rname: 'nstld.verisign-grs.com',
              serial: 2026120200,
              refresh: 1800,
              retry: 900,
              expire: 604800,
              minimum: 86400,
            },
          },
        ],
        additionals: opt
          ? [
              {
                name: '.',
                type: 'OPT',
                udpPayloadSize: SERVER_UDP_PAYLOAD,
                extendedRcode: 0,
                ednsVersion: 0,
                flags: opt.flags,
                flag_do: opt.flag_do,
                options: [],
              },
            ]
          : [],
      }),
    };
  }

  #resolve(name: string, type: string): Resolution {
    const answers: dnsPacket.Answer[] = [];
    const names = [name];
    let current = name;
    for (let step = 0; step < MAX_SERVER_CHAIN; step++) {
      const records = this.#zone.get(current) ?? [];
      const wanted = records.filter((record) => record.type === type);
      if (wanted.length > 0) {
        answers.push(...wanted.map((record) => toWire(current, record)));
        break;
      }
      const cname = records.find((record) => record.type === 'CNAME');
      if (cname?.type !== 'CNAME') break;
      answers.push(toWire(current, cname));
      const target = normalise(cname.data);
      if (!this.followCnames || names.includes(target)) break;
      names.push(target);
      current = target;
    }
    // RFC 6604: the rcode describes the last name of the chain.
    const rcode = this.#exists(current) ? RCODE_NOERROR : RCODE_NXDOMAIN;
    return { rcode, answers, names, finalName: current };
  }

  /** A name exists when it owns records or is an empty non-terminal above some that do. */
  #exists(name: string): boolean {
    if (this.#zone.has(name)) return true;
    const suffix = `.${name}`;
    for (const owner of this.#zone.keys()) {
      if (owner.endsWith(suffix)) return true;
    }
    return false;
  }

  #isSigned(name: string): boolean {
    for (const zone of this.#signed) {
      if (isAtOrUnder(name, zone)) return true;
    }
    return false;
  }

  #failureFor(names: string[], type: string, transport: Transport): FailureMode | undefined {
    if (this.outage !== undefined) return this.outage;
    for (const name of names) {
      for (const key of [
        failureKey(name, type, transport),
        failureKey(name, type, ANY),
        failureKey(name, ANY, transport),
        failureKey(name, ANY, ANY),
      ]) {
        const how = this.#failures.get(key);
        if (how) return how;
      }
    }
    return undefined;
  }

  /** The SOA a negative answer carries (RFC 2308), at the signed zone or the name's parent. */
  #soa(name: string): dnsPacket.Answer {
    let zone = [...this.#signed]
      .filter((candidate) => isAtOrUnder(name, candidate))
      .sort((a, b) => b.length - a.length)[0];
    if (zone === undefined) zone = name.split('.').slice(-2).join('.');
    return {
      name: zone || '.',
      type: 'SOA',
      ttl: this.negativeTtl,
      data: {
        mname: `ns.${zone}`,
        rname: `hostmaster.${zone}`,
        serial: 1,
        refresh: 3600,
        retry: 600,
        expire: 86400,
        minimum: this.negativeTtl,
      },
    };
  }
}

/** An Extended DNS Error option body: the info code, then UTF-8 text (RFC 8914 2). */
function extendedError(code: number, text: string): Buffer {
  const body = Buffer.alloc(2);
  body.writeUInt16BE(code, 0);
  return Buffer.concat([body, Buffer.from(text, 'utf8')]);
}
