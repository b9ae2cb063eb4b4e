// MX resolution (RFC 5321 5.1, RFC 7505), each host's addresses, and the TLSA lookup that
// only happens when the path to the host is DNSSEC-secure (RFC 7672 2.2).
import { normaliseName, prefixedName } from '../dns/names.ts';
import { type DnsAnswer, describeAnswer, type Resolver, type TlsaRecord } from '../dns/types.ts';
import type { ReasonCode } from '../vocabulary/reasons.ts';
import { isUsable } from './dane.ts';

export interface MxHost {
  host: string;
  preference: number;
  /** True when the domain has no MX and its own address records are used (RFC 5321 5.1). */
  implicit: boolean;
  /**
   * Why the MX target cannot be looked up (not a valid host name), when it cannot. Such a
   * host fails on its own; the domain's other hosts are still tried.
   */
  invalid?: string;
}

export type MxResolution =
  | { ok: true; hosts: MxHost[]; secure: boolean; adTrusted: boolean; dnssec: string }
  | { ok: false; reason: ReasonCode; detail: string; dnssec: string };

function isFailure(answer: DnsAnswer): boolean {
  return answer.outcome === 'servfail' || answer.outcome === 'timeout';
}

/** The failure in words for a detail line: `SERVFAIL from 127.0.0.1:53`, or the outcome. */
function failureText(answer: DnsAnswer): string {
  return answer.problem ?? answer.outcome;
}

/**
 * The MX target in the form the resolver takes, or why it is not a host name. The answer
 * comes from the recipient's zone (possibly an attacker's): a space or a control character
 * must fail this one host, not throw through the whole assessment.
 */
function checkTarget(exchange: string): { host: string } | { invalid: string } {
  try {
    return { host: normaliseName(exchange) };
  } catch {
    return { invalid: `MX target ${JSON.stringify(exchange)} is not a valid host name` };
  }
}

/**
 * The MX hosts of a domain in preference order. Hosts of equal preference are shuffled
 * with `random` (RFC 5321 5.1 asks to spread load among them); tests pass a fixed one.
 */
export async function resolveMx(
  resolver: Resolver,
  domain: string,
  random: () => number,
): Promise<MxResolution> {
  const answer = await resolver.query(domain, 'MX');
  const dnssec = describeAnswer(answer);
  switch (answer.outcome) {
    case 'nxdomain':
      return { ok: false, reason: 'no-such-domain', detail: `${domain} does not exist`, dnssec };
    case 'servfail':
    case 'timeout':
      return {
        ok: false,
        reason: 'dns-temporary-failure',
        detail: `MX lookup for ${domain}: ${failureText(answer)}`,
        dnssec,
      };
    case 'nodata':
      return {
        ok: true,
        hosts: [{ host: domain, preference: 0, implicit: true }],
        secure: answer.secure,
        adTrusted: answer.adTrusted ?? false,
        dnssec,
      };
    case 'ok':
      break;
    default: {
      const never: never = answer.outcome;
      throw new Error(`unexpected DNS outcome ${String(never)}`);
    }
  }
  if (answer.records.some((mx) => mx.exchange === '')) {
    return { ok: false, reason: 'null-mx', detail: `${domain} publishes a null MX`, dnssec };
  }
  const seen = new Set<string>();
  const keyed = answer.records
    .filter((mx) => !seen.has(mx.exchange) && seen.add(mx.exchange))
    .map((mx) => ({ mx, tieBreak: random() }));
  keyed.sort((a, b) => a.mx.preference - b.mx.preference || a.tieBreak - b.tieBreak);
  return {
    ok: true,
    hosts: keyed.map(({ mx }) => {
      const target = checkTarget(mx.exchange);
      return 'host' in target
        ? { host: target.host, preference: mx.preference, implicit: false }
        : {
            host: mx.exchange,
            preference: mx.preference,
            implicit: false,
            invalid: target.invalid,
          };
    }),
    secure: answer.secure,
    adTrusted: answer.adTrusted ?? false,
    dnssec,
  };
}

export type AddressResolution =
  | {
      ok: true;
      addresses: string[];
      secure: boolean;
      adTrusted: boolean;
      dnssec: string;
      /**
       * The name at the end of the CNAME chain the address lookups followed, when they
       * followed one and both families agree on it; otherwise the host name itself.
       */
      canonical: string;
    }
  | { ok: false; reason: ReasonCode; detail: string; dnssec: string };

/**
 * IPv4 first, then IPv6: IPv4 is reachable from more sending networks.
 *
 * Both lookups must succeed. One that fails (SERVFAIL, timeout, a bogus answer a validating
 * resolver reports as SERVFAIL) leaves the host indeterminate, even when the other family
 * has addresses: whether TLSA is looked up depends on both answers being DNSSEC-secure, so
 * "insecure, skip TLSA" after a failed AAAA would let anyone who can break one RRset switch
 * DANE off (RFC 7672 2.2, SECURITY_POLICY step 3). The host is deferred instead.
 */
export async function resolveAddresses(
  resolver: Resolver,
  host: string,
): Promise<AddressResolution> {
  const [a, aaaa] = await Promise.all([resolver.query(host, 'A'), resolver.query(host, 'AAAA')]);
  const dnssec = `A ${describeAnswer(a)}, AAAA ${describeAnswer(aaaa)}`;
  const failures = [a, aaaa].filter(isFailure);
  if (failures.length > 0) {
    return {
      ok: false,
      reason: 'dns-temporary-failure',
      detail: failures.map((f) => `${f.type} lookup for ${host}: ${failureText(f)}`).join('; '),
      dnssec,
    };
  }
  const addresses = [
    ...(a.outcome === 'ok' ? a.records : []),
    ...(aaaa.outcome === 'ok' ? aaaa.records : []),
  ];
  if (addresses.length === 0) {
    return { ok: false, reason: 'no-mail-host', detail: `${host} has no address records`, dnssec };
  }
  // Secure only when every answer used (including the denial of the other family) validated.
  const secure = a.secure && aaaa.secure;
  const adTrusted = (a.adTrusted ?? false) && (aaaa.adTrusted ?? false);
  // Two families that end their chains at different names give no single expanded name;
  // the host name itself is then the only TLSA base (its records still apply).
  const canonical = a.canonicalName === aaaa.canonicalName ? a.canonicalName : host;
  return { ok: true, addresses, secure, adTrusted, dnssec, canonical };
}

export type TlsaResolution =
  | {
      ok: true;
      name: string;
      records: TlsaRecord[];
      usable: TlsaRecord[];
      adTrusted: boolean;
      dnssec: string;
    }
  | { ok: false; name: string; reason: ReasonCode; detail: string; dnssec: string };

/**
 * TLSA at `_<port>._tcp.<host>`. The port is the SMTP port we connect to: 25 in
 * production, an ephemeral port in tests. Only DNSSEC-secure records count; an insecure
 * answer is treated as no records. A failed lookup means the host cannot be judged now.
 */
export async function resolveTlsa(
  resolver: Resolver,
  host: string,
  port: number,
): Promise<TlsaResolution> {
  const name = prefixedName(`_${port}._tcp`, host);
  if (name === undefined) {
    // No TLSA record can exist at a name DNS cannot hold; nothing was asked, so no resolver
    // was doubted either.
    const dnssec = 'no lookup: the TLSA name would be longer than DNS allows';
    return {
      ok: true,
      name: `_${port}._tcp.${host}`,
      records: [],
      usable: [],
      adTrusted: true,
      dnssec,
    };
  }
  const answer = await resolver.query(name, 'TLSA');
  const dnssec = describeAnswer(answer);
  if (isFailure(answer)) {
    return {
      ok: false,
      name,
      reason: 'dns-temporary-failure',
      detail: `TLSA lookup for ${name}: ${failureText(answer)}`,
      dnssec,
    };
  }
  const records = answer.outcome === 'ok' && answer.secure ? answer.records : [];
  return {
    ok: true,
    name,
    records,
    usable: records.filter(isUsable),
    adTrusted: answer.adTrusted ?? false,
    dnssec,
  };
}

/**
 * The TLSA records of a host whose addresses are DNSSEC-secure, at the right base name
 * (RFC 7672 2.2.2): when the host is an alias (a secure CNAME chain, which `canonical`
 * then names), first at the fully expanded name, and only when that name securely has none,
 * at the host name itself. The provider that runs the server behind an alias publishes its
 * TLSA records at its own name; looking only at the alias would miss them and judge the
 * host by a weaker method. A failed lookup at either name makes the host indeterminate.
 * `base` is the name whose records were used; it is also a name the certificate may have
 * (RFC 7672 3.2.2) and what SNI carries.
 */
export async function resolveHostTlsa(
  resolver: Resolver,
  host: string,
  canonical: string,
  port: number,
): Promise<TlsaResolution & { base: string }> {
  if (canonical !== host) {
    const expanded = await resolveTlsa(resolver, canonical, port);
    if (!expanded.ok || expanded.records.length > 0) return { ...expanded, base: canonical };
    const original = await resolveTlsa(resolver, host, port);
    return {
      ...original,
      dnssec: `${expanded.name} ${expanded.dnssec}; ${original.name} ${original.dnssec}`,
      base: host,
    };
  }
  return { ...(await resolveTlsa(resolver, host, port)), base: host };
}
