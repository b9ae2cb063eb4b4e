// The platform's names in DNS: SECUREMAIL_HOSTNAME (our EHLO name, which receiving servers
// look up) and the two MX host names account owners point their bounce subdomains at (where
// bounces must arrive). Each must resolve, and to this machine where the doctor can tell: it
// compares the addresses with those of this machine's interfaces. Behind NAT or a load
// balancer a mismatch is expected, so that is a warning, not a failure.

import { networkInterfaces } from 'node:os';
import type { Resolver } from '../dns/index.ts';
import { nonPublicRange } from '../net/address-ranges.ts';
import { type Finding, fail, info, ok, warn } from './finding.ts';

/** The addresses of this machine's network interfaces. */
export function localAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .map((i) => i.address.replace(/%.*$/, ''));
}

const isLocalName = (name: string) => name === 'localhost' || name.endsWith('.localhost');

interface Lookup {
  addresses: string[];
  /** nxdomain / nodata when there are no addresses and DNS said so. */
  missing?: 'nxdomain' | 'nodata';
  /** What went wrong when DNS gave no usable answer. */
  problem?: string;
}

async function addressesOf(resolver: Resolver, name: string): Promise<Lookup> {
  const [a, aaaa] = await Promise.all([resolver.query(name, 'A'), resolver.query(name, 'AAAA')]);
  const addresses = [...a.records, ...aaaa.records] as string[];
  if (addresses.length > 0) return { addresses };
  const failed = [a, aaaa].find((r) => r.outcome === 'servfail' || r.outcome === 'timeout');
  if (failed !== undefined)
    return {
      addresses,
      problem: `${failed.outcome}${failed.problem ? ` (${failed.problem})` : ''}`,
    };
  return { addresses, missing: a.outcome === 'nxdomain' ? 'nxdomain' : 'nodata' };
}

export interface HostNameDeps {
  resolver: Resolver;
  /** This machine's addresses (default: its interfaces'). */
  local: readonly string[];
}

/** SECUREMAIL_HOSTNAME: not the default, in DNS, pointing here. */
export async function checkHostname(hostname: string, deps: HostNameDeps): Promise<Finding> {
  const check = 'hostname';
  if (isLocalName(hostname)) {
    return warn(
      check,
      `SECUREMAIL_HOSTNAME is ${hostname} (the default): receiving servers are greeted with ` +
        `EHLO ${hostname}, and the MX host names default to mx1.${hostname} and mx2.${hostname}`,
      "set SECUREMAIL_HOSTNAME to this machine's public DNS name (with an A or AAAA record, " +
        'and a PTR record back to the name)',
    );
  }
  return placed(
    check,
    'SECUREMAIL_HOSTNAME',
    hostname,
    await addressesOf(deps.resolver, hostname),
    deps,
    {
      fix: `publish an A (and AAAA) record for ${hostname} with this machine's address`,
      missingFails: true,
    },
  );
}

/** SECUREMAIL_MX_HOSTS: where bounces arrive; in DNS, pointing at the bounce MX. */
export async function checkMxHosts(
  mxHosts: readonly string[],
  mxEnabled: boolean,
  deps: HostNameDeps,
): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const host of mxHosts) {
    const check = 'mx-host';
    if (isLocalName(host)) {
      findings.push(
        warn(
          check,
          `${host} cannot be published in DNS: account owners would point their bounce MX records at it`,
          'set SECUREMAIL_HOSTNAME to a public name, or SECUREMAIL_MX_HOSTS to two public host names',
        ),
      );
      continue;
    }
    findings.push(
      placed(check, 'SECUREMAIL_MX_HOSTS', host, await addressesOf(deps.resolver, host), deps, {
        fix: mxEnabled
          ? `publish an A (and AAAA) record for ${host} with the address of the machine running the bounce MX (port 25)`
          : `publish an A record for ${host} with the address of the machine that receives bounces`,
        // Without them bounces never come back, but only where this process is the bounce MX.
        missingFails: mxEnabled,
      }),
    );
  }
  return findings;
}

function placed(
  check: string,
  variable: string,
  name: string,
  lookup: Lookup,
  deps: HostNameDeps,
  options: { fix: string; missingFails: boolean },
): Finding {
  if (lookup.problem !== undefined) {
    return warn(
      check,
      `${name} (${variable}) could not be looked up: ${lookup.problem}`,
      'see the dns-resolver finding; then run doctor again',
    );
  }
  if (lookup.addresses.length === 0) {
    const what =
      lookup.missing === 'nxdomain' ? 'does not exist in DNS' : 'has no A or AAAA record';
    return options.missingFails
      ? fail(check, `${name} (${variable}) ${what}`, options.fix)
      : warn(check, `${name} (${variable}) ${what}`, options.fix);
  }
  const shown = lookup.addresses.join(', ');
  const here = lookup.addresses.filter((a) => deps.local.includes(a));
  if (here.length > 0) return ok(check, `${name} resolves to ${shown}: an address of this machine`);
  const internal = lookup.addresses.filter((a) => nonPublicRange(a) !== undefined);
  if (internal.length === lookup.addresses.length) {
    return warn(
      check,
      `${name} resolves to ${shown}, outside the public internet: servers elsewhere cannot reach it`,
      options.fix,
    );
  }
  const publicHere = deps.local.filter((a) => nonPublicRange(a) === undefined);
  if (publicHere.length === 0) {
    return info(
      check,
      `${name} resolves to ${shown}; this machine has no public address (behind NAT or a load ` +
        'balancer?), so whether that address reaches it cannot be told from here',
    );
  }
  return warn(
    check,
    `${name} resolves to ${shown}, not to this machine (${publicHere.join(', ')})`,
    `${options.fix}, unless a load balancer or NAT forwards that address here`,
  );
}
