// The resolvers of SECUREMAIL_DNS_SERVERS: DANE rests on the AD bit of a validating resolver
// whose answers cannot be forged on the way. The probe (src/dns/validation-probe.ts) asks
// each for the signed root SOA; a validating resolver answers it with AD.

import { type AdTrust, type DnsServer, daneAvailable, probeResolvers } from '../dns/index.ts';
import { type Finding, fail, ok, warn } from './finding.ts';

const FIX_VALIDATING =
  'run a validating resolver on this machine (e.g. unbound on 127.0.0.1) and set ' +
  'SECUREMAIL_DNS_SERVERS=127.0.0.1';

export async function checkResolvers(
  servers: readonly DnsServer[],
  trust: AdTrust,
  timeoutMs: number,
): Promise<Finding[]> {
  const check = 'dns-resolver';
  const probes = await probeResolvers(servers, trust, timeoutMs);
  if (probes.length === 0) return [fail(check, 'no resolver is configured', FIX_VALIDATING)];
  const findings = probes.map((probe): Finding => {
    if (probe.trustAd && probe.validates) return ok(check, probe.summary);
    if (!probe.answered)
      return warn(check, probe.summary, `check that ${probe.server} runs; or ${FIX_VALIDATING}`);
    if (!probe.validates) return warn(check, probe.summary, FIX_VALIDATING);
    return warn(
      check,
      probe.summary,
      trust === 'never'
        ? 'set SECUREMAIL_DNS_TRUST_AD=auto (the default) or always'
        : `${FIX_VALIDATING}; or SECUREMAIL_DNS_TRUST_AD=always if the network path to ${probe.server} is protected (IPsec, a private link)`,
    );
  });
  // Without one usable resolver DANE is impossible: DANE-secured servers are only reached by
  // MTA-STS or PKIX, and dane-only accounts defer every recipient.
  if (!daneAvailable(probes)) {
    findings.push(
      fail(
        check,
        'DANE is unavailable: no resolver both validates DNSSEC and is trusted for it; ' +
          'dane-only accounts defer every recipient',
        FIX_VALIDATING,
      ),
    );
  }
  return findings;
}
