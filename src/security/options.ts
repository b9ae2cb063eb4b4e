// Options of the security engine. main.ts fills them from the configuration
// (SECUREMAIL_SMTP_PORT, SECUREMAIL_CA_FILE, ...); tests pass ephemeral ports and a test CA.
import type { Resolver } from '../dns/types.ts';
import { AddressPolicy } from '../net/address-ranges.ts';
import type { PolicyLevel } from '../vocabulary/policy-levels.ts';
import type { StsPolicyCache } from './mta-sts-cache.ts';

export interface SecurityOptions {
  /** SMTP port to connect to, 25 in production. TLSA is looked up at `_<port>._tcp`. */
  smtpPort: number;
  connectTimeoutMs: number;
  /** Per command and for the TLS handshake. */
  commandTimeoutMs: number;
  /** For the final reply to a message's content (RFC 5321 4.5.3.2: 10 minutes). */
  dataTimeoutMs: number;
  /** Our host name in EHLO. */
  ehloName: string;
  /** PEM certificates trusted in addition to the Web PKI roots (SECUREMAIL_CA_FILE). */
  extraCa: readonly string[];
  policyLevel: PolicyLevel;
  /** HTTPS port of the MTA-STS policy host, 443 in production. */
  mtaStsPort: number;
  mtaStsTimeoutMs: number;
  now: () => Date;
  /** Shuffles MX hosts of equal preference. */
  random: () => number;
  /**
   * Networks (CIDR) outside the public internet that MX hosts and MTA-STS policy hosts may
   * still be reached in (SECUREMAIL_MX_ALLOW_NETWORKS): private deployments, test networks.
   * Empty by default: only public addresses are ever connected to.
   */
  allowNetworks: readonly string[];
}

export interface SecurityDeps {
  resolver: Resolver;
  stsCache: StsPolicyCache;
}

export const DEFAULT_SECURITY_OPTIONS: Readonly<SecurityOptions> = Object.freeze({
  smtpPort: 25,
  // RFC 5321 4.5.3.2 suggests minutes; a secure-delivery worker retries later instead.
  connectTimeoutMs: 30_000,
  commandTimeoutMs: 60_000,
  dataTimeoutMs: 600_000,
  ehloName: 'localhost',
  extraCa: [],
  policyLevel: 'verified',
  mtaStsPort: 443,
  // RFC 8461 3.3 suggests a timeout of about a minute for the policy fetch; 20 s is plenty.
  mtaStsTimeoutMs: 20_000,
  now: () => new Date(),
  random: Math.random,
  allowNetworks: [],
});

const policies = new Map<string, AddressPolicy>();

/** The address policy for these options, parsed once per network list. */
export function addressPolicyOf(options: Readonly<SecurityOptions>): AddressPolicy {
  const key = options.allowNetworks.join(',');
  let policy = policies.get(key);
  if (policy === undefined) {
    policy = new AddressPolicy(options.allowNetworks);
    // One or two lists in a process (one per configuration); bounded all the same.
    if (policies.size >= 16) policies.clear();
    policies.set(key, policy);
  }
  return policy;
}

export function securityOptions(input: Partial<SecurityOptions> = {}): Readonly<SecurityOptions> {
  const defined = Object.fromEntries(
    Object.entries(input).filter(([, value]) => value !== undefined),
  );
  return Object.freeze({ ...DEFAULT_SECURITY_OPTIONS, ...defined });
}
