// The DNS client: asks the configured resolvers, trusts their AD bit only when told to,
// follows CNAME chains and caches answers by their TTL. See types.ts for the contract.

import { randomInt } from 'node:crypto';
import { isIP } from 'node:net';
import { TtlCache } from './cache.ts';
import { walkChain } from './chain.ts';
import { normaliseName } from './names.ts';
import { exchangeTcp, exchangeUdp } from './transport.ts';
import {
  type AdTrust,
  type DnsAnswer,
  type DnsOutcome,
  type DnsServer,
  type RecordData,
  type RecordType,
  type Resolver,
  serverAddress,
} from './types.ts';
import { trustsAd } from './validation-probe.ts';
import {
  decodeReply,
  encodeQuery,
  MAX_QUERY_ID,
  RCODE_NOERROR,
  RCODE_NXDOMAIN,
  type Reply,
} from './wire.ts';

export const DEFAULT_TIMEOUT_MS = 2000;
export const DEFAULT_ATTEMPTS = 2;
export const DEFAULT_MAX_CNAME_CHAIN = 8;
export const DEFAULT_CACHE_SIZE = 10_000;
/** Cap on how long any answer is cached, like unbound's cache-max-ttl. */
export const MAX_CACHE_TTL_SECONDS = 86_400;
/**
 * Negative answers are cached briefly: a recipient who just fixed their DNS should not
 * wait long, and a missing TLSA or MTA-STS record must not stick.
 */
export const MAX_NEGATIVE_TTL_SECONDS = 60;
const MAX_PORT = 65535;

export const RECORD_TYPES: readonly RecordType[] = ['A', 'AAAA', 'MX', 'TXT', 'TLSA', 'CNAME'];

export interface ResolverOptions {
  /** Tried in order; later rounds retry the ones that timed out. */
  servers: DnsServer[];
  /** Per query to one server. */
  timeoutMs?: number;
  /** Rounds over the server list. */
  attempts?: number;
  /**
   * Whose AD bit marks DNSSEC-secure data (see AdTrust). `true` is `always`, `false` is
   * `never`. Default `auto`: only resolvers on a loopback address, because anyone on the
   * path to a remote resolver could set the bit on a forged answer.
   */
  trustAd?: boolean | AdTrust;
  cache?: boolean;
  /** Most answers kept in the cache. */
  cacheSize?: number;
  /** Milliseconds, like `Date.now`; injected by tests to move time. */
  now?: () => number;
  /** Most CNAME hops followed before the answer counts as servfail. */
  maxCnameChain?: number;
  /**
   * Told of each question that ended without a usable answer (SERVFAIL, REFUSED, a broken
   * answer, or no answer in time), once per lookup however many callers shared it (metrics).
   */
  onFailure?: (outcome: 'servfail' | 'timeout', type: RecordType) => void;
}

export interface DnsClient extends Resolver {
  /** Stops in-flight queries (they reject) and refuses new ones. */
  close(): Promise<void>;
  clearCache(): void;
}

interface TrustedServer extends DnsServer {
  trustAd: boolean;
  /** `host:port` for reports. */
  address: string;
}

interface Settings {
  servers: TrustedServer[];
  /**
   * The servers questions go to: the trusted ones when any server's AD bit is trusted, else
   * all. A validating resolver reports forged (bogus) data as SERVFAIL; asking a server whose
   * AD bit we do not believe after that would turn "forged" into "insecure", and insecure
   * switches DANE off (RFC 7672 2.2). So an untrusted server never stands in for a trusted
   * one: when the trusted ones fail, the lookup fails, and the engine defers.
   */
  asked: TrustedServer[];
  timeoutMs: number;
  attempts: number;
  cache: TtlCache<DnsAnswer> | undefined;
  maxCnameChain: number;
}

/** How asking the servers for one name ended; `problem` says what each server did. */
type Step =
  | { kind: 'reply'; reply: Reply; server: TrustedServer }
  | { kind: 'servfail' | 'timeout'; problem: string; server: TrustedServer | undefined };

/** How asking one server once ended. */
type ServerStep =
  | { kind: 'reply'; reply: Reply }
  | { kind: 'silent' }
  | { kind: 'unreachable'; detail: string };

const RCODE_NAMES: Readonly<Record<number, string>> = {
  1: 'FORMERR',
  2: 'SERVFAIL',
  4: 'NOTIMP',
  5: 'REFUSED',
};

interface Resolved {
  answer: DnsAnswer;
  /** Seconds to cache the answer; 0 = not at all. */
  cacheTtl: number;
}

export function createResolver(options: ResolverOptions): DnsClient {
  const settings = settingsFrom(options);
  const lifetime = new AbortController();
  const inFlight = new Map<string, Promise<Resolved>>();

  async function askServer(
    server: TrustedServer,
    name: string,
    type: RecordType,
  ): Promise<ServerStep> {
    const id = randomInt(0, MAX_QUERY_ID + 1);
    const query = encodeQuery(id, name, type);
    const parse = (message: Buffer): Reply | undefined => decodeReply(message, id, name, type);
    const udp = await exchangeUdp(server, query, parse, settings.timeoutMs, lifetime.signal);
    if (udp.kind === 'error') return unreachable(udp.error);
    if (udp.kind !== 'reply') return { kind: 'silent' };
    if (!udp.reply.truncated) return udp;
    // The answer did not fit in a datagram: ask the same server again over TCP.
    const tcp = await exchangeTcp(server, query, parse, settings.timeoutMs, lifetime.signal);
    if (tcp.kind === 'error') return unreachable(tcp.error, 'over TCP');
    if (tcp.kind !== 'reply') return { kind: 'silent' };
    return tcp.reply.truncated
      ? { kind: 'unreachable', detail: 'answered truncated over TCP too' }
      : tcp;
  }

  async function ask(name: string, type: RecordType): Promise<Step> {
    // A server that answered with an error (or cannot be reached) is not asked again; one
    // that stayed silent is retried in the next round.
    const askable = settings.asked;
    const problems = new Map<TrustedServer, string>();
    const silent = new Map<TrustedServer, number>();
    let last: TrustedServer | undefined;
    let answeredBadly = false;
    for (let round = 0; round < settings.attempts; round++) {
      for (const server of askable) {
        if (problems.has(server)) continue;
        if (lifetime.signal.aborted) throw new Error('DNS resolver closed');
        last = server;
        const started = Date.now();
        const step = await askServer(server, name, type);
        if (step.kind === 'silent') {
          silent.set(server, (silent.get(server) ?? 0) + (Date.now() - started));
          continue;
        }
        silent.delete(server);
        if (step.kind === 'unreachable') {
          problems.set(server, `${server.address} ${step.detail}`);
          continue;
        }
        const { rcode } = step.reply;
        if (rcode === RCODE_NOERROR || rcode === RCODE_NXDOMAIN) {
          return { kind: 'reply', reply: step.reply, server };
        }
        answeredBadly = true;
        const ede = step.reply.extendedError;
        problems.set(
          server,
          `${RCODE_NAMES[rcode] ?? `rcode ${rcode}`} from ${server.address}` +
            (ede ? ` (${ede.text})` : ''),
        );
      }
    }
    if (lifetime.signal.aborted) throw new Error('DNS resolver closed');
    const tries = settings.attempts === 1 ? '1 try' : `${settings.attempts} tries`;
    for (const [server, waited] of silent) {
      problems.set(server, `no answer from ${server.address} within ${waited} ms (${tries})`);
    }
    const problem = [...problems.values()].join('; ');
    return { kind: answeredBadly ? 'servfail' : 'timeout', problem, server: last };
  }

  async function resolve(name: string, type: RecordType): Promise<Resolved> {
    const seen = new Set([name]);
    let current = name;
    let secure = true;
    let ttl = Number.POSITIVE_INFINITY;
    for (;;) {
      const step = await ask(current, type);
      if (step.kind !== 'reply') return failed(name, type, step.kind, step.problem, step.server);
      const reply = step.reply;
      const origin = { server: step.server.address, adTrusted: step.server.trustAd };
      // Every step of a chain must be validated for the whole answer to be, and only the AD
      // bit of a trusted resolver counts.
      secure = secure && reply.authenticData && step.server.trustAd;
      const walk = walkChain(reply.records, current, type, seen, settings.maxCnameChain);
      if (walk.kind === 'broken') {
        return failed(
          name,
          type,
          'servfail',
          `${walk.reason} in the answer of ${origin.server}`,
          step.server,
        );
      }
      ttl = Math.min(ttl, walk.ttl);
      if (walk.records.length > 0) {
        const answer: DnsAnswer = {
          name,
          type,
          outcome: 'ok',
          secure,
          records: walk.records,
          canonicalName: walk.owner,
          ttl,
          ...origin,
        };
        return { answer, cacheTtl: Math.min(ttl, MAX_CACHE_TTL_SECONDS) };
      }
      if (walk.owner !== current && reply.rcode === RCODE_NOERROR) {
        // The reply ends at a CNAME target without its data (a server not authoritative
        // for the target): ask for the target itself.
        current = walk.owner;
        continue;
      }
      // RFC 6604: the rcode describes the last name of the chain.
      const outcome: DnsOutcome = reply.rcode === RCODE_NXDOMAIN ? 'nxdomain' : 'nodata';
      const answer: DnsAnswer = {
        name,
        type,
        outcome,
        secure,
        records: [],
        canonicalName: walk.owner,
        ttl: 0,
        ...origin,
      };
      const negativeTtl = reply.negativeTtl ?? MAX_NEGATIVE_TTL_SECONDS;
      return { answer, cacheTtl: Math.min(negativeTtl, ttl, MAX_NEGATIVE_TTL_SECONDS) };
    }
  }

  async function resolveAndCache(key: string, name: string, type: RecordType): Promise<Resolved> {
    const resolved = await resolve(name, type);
    const outcome = resolved.answer.outcome;
    if (outcome === 'servfail' || outcome === 'timeout') options.onFailure?.(outcome, type);
    settings.cache?.set(key, resolved.answer, resolved.cacheTtl);
    return resolved;
  }

  async function query<T extends RecordType>(name: string, type: T): Promise<DnsAnswer<T>> {
    if (!RECORD_TYPES.includes(type)) throw new TypeError(`unsupported DNS record type ${type}`);
    const normal = normaliseName(name);
    if (lifetime.signal.aborted) throw new Error('DNS resolver closed');
    // Names never contain spaces (normaliseName rejects them), so the key is unambiguous.
    const key = `${normal} ${type}`;
    const hit = settings.cache?.get(key);
    if (hit) {
      const answer = copyAnswer(hit.value);
      if (answer.outcome === 'ok') answer.ttl = Math.min(answer.ttl, hit.remainingSeconds);
      return answer as DnsAnswer<T>;
    }
    // Callers asking the same question at the same time share one lookup.
    let pending = inFlight.get(key);
    if (pending === undefined) {
      pending = resolveAndCache(key, normal, type).finally(() => inFlight.delete(key));
      inFlight.set(key, pending);
    }
    const resolved = await pending;
    return copyAnswer(resolved.answer) as DnsAnswer<T>;
  }

  return {
    query,
    servers: settings.servers.map(({ address, trustAd }) => ({ address, trustAd })),
    async close(): Promise<void> {
      lifetime.abort();
      settings.cache?.clear();
    },
    clearCache(): void {
      settings.cache?.clear();
    },
  };
}

function failed(
  name: string,
  type: RecordType,
  outcome: DnsOutcome,
  problem: string,
  server: TrustedServer | undefined,
): Resolved {
  return {
    answer: {
      name,
      type,
      outcome,
      secure: false,
      records: [],
      canonicalName: name,
      ttl: 0,
      problem,
      ...(server ? { server: server.address, adTrusted: server.trustAd } : {}),
    },
    // SERVFAIL and timeouts are never cached: the next delivery attempt must ask again.
    cacheTtl: 0,
  };
}

/** A copy a caller may change without touching the cache or other callers. */
function copyAnswer(answer: DnsAnswer): DnsAnswer {
  return { ...answer, records: answer.records.map(copyRecord) };
}

function copyRecord(record: RecordData[RecordType]): RecordData[RecordType] {
  if (typeof record === 'string') return record;
  if ('exchange' in record) return { ...record };
  return { ...record, data: Buffer.from(record.data) };
}

function adTrustMode(option: ResolverOptions['trustAd']): AdTrust {
  if (option === true) return 'always';
  if (option === false) return 'never';
  return option ?? 'auto';
}

/** Socket errors in words: ECONNREFUSED on UDP is an ICMP port unreachable. */
function unreachable(error: Error, how = ''): ServerStep {
  const code = (error as NodeJS.ErrnoException).code;
  const via = how === '' ? '' : ` ${how}`;
  if (code === 'ECONNREFUSED') {
    return { kind: 'unreachable', detail: `refused the connection${via} (nothing listens there)` };
  }
  return { kind: 'unreachable', detail: `could not be reached${via} (${code ?? error.message})` };
}

function settingsFrom(options: ResolverOptions): Settings {
  const servers = options.servers;
  if (!Array.isArray(servers) || servers.length === 0) {
    throw new TypeError('DNS resolver needs at least one server');
  }
  for (const server of servers) {
    if (isIP(server.host) === 0)
      throw new TypeError(`DNS server is not an IP address: ${server.host}`);
    if (!Number.isInteger(server.port) || server.port < 1 || server.port > MAX_PORT) {
      throw new TypeError(`DNS server port out of range: ${server.port}`);
    }
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const attempts = options.attempts ?? DEFAULT_ATTEMPTS;
  const maxCnameChain = options.maxCnameChain ?? DEFAULT_MAX_CNAME_CHAIN;
  if (!(timeoutMs > 0 && Number.isFinite(timeoutMs)))
    throw new TypeError('timeoutMs must be positive');
  if (!Number.isInteger(attempts) || attempts < 1)
    throw new TypeError('attempts must be at least 1');
  if (!Number.isInteger(maxCnameChain) || maxCnameChain < 0) {
    throw new TypeError('maxCnameChain must be a non-negative integer');
  }
  const useCache = options.cache ?? true;
  const trust = adTrustMode(options.trustAd);
  const configured = servers.map((server) => ({
    host: server.host,
    port: server.port,
    address: serverAddress(server),
    trustAd: trustsAd(server, trust),
  }));
  const trusted = configured.filter((server) => server.trustAd);
  return {
    servers: configured,
    asked: trusted.length > 0 ? trusted : configured,
    timeoutMs,
    attempts,
    cache: useCache
      ? new TtlCache<DnsAnswer>(options.cacheSize ?? DEFAULT_CACHE_SIZE, options.now ?? Date.now)
      : undefined,
    maxCnameChain,
  };
}
