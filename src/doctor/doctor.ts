// `securemail doctor`: checks a deployment the way `postfix check` does, before the first
// start and after every change: names in DNS, the resolvers' DNSSEC, the ports, the files
// and their modes, the database and its schema, the clock, the CA file. It reads and asks,
// and changes nothing: no directory, key or database is made, no mode is tightened.

import type { Config } from '../config.ts';
import { configuredResolver } from '../dns/settings.ts';
import { checkClock, checkDatabase } from './database.ts';
import { checkCaFile, checkDataDir, checkMasterKey, checkMxTls } from './files.ts';
import type { Finding } from './finding.ts';
import { checkHostname, checkMxHosts, localAddresses } from './host-names.ts';
import { checkHttpPort, checkMxPort } from './ports.ts';
import { checkResolvers } from './resolvers.ts';

export type { Finding, FindingStatus } from './finding.ts';
export { doctorExitCode } from './finding.ts';

export interface DoctorDeps {
  now?: () => number;
  /** This machine's addresses (default: its network interfaces'). */
  localAddresses?: readonly string[];
}

/** Every finding, in a fixed order: names, DNS, ports, files, database, clock, CA file. */
export async function runDoctor(config: Config, deps: DoctorDeps = {}): Promise<Finding[]> {
  const now = deps.now ?? Date.now;
  const local = deps.localAddresses ?? localAddresses();
  const findings: Finding[] = [];
  // No cache: the doctor asks once, and a fixed record must show at once.
  const resolver = configuredResolver(config, { cache: false });
  try {
    findings.push(await checkHostname(config.hostname, { resolver, local }));
    findings.push(
      ...(await checkMxHosts(config.mxHosts, config.inbound.enabled, { resolver, local })),
    );
  } finally {
    await resolver.close();
  }
  findings.push(
    ...(await checkResolvers(config.dnsServers, config.dnsTrustAd, config.dnsTimeoutMs)),
  );
  findings.push(await checkHttpPort(config.httpHost, config.httpPort));
  findings.push(
    await checkMxPort(config.inbound.host, config.inbound.port, config.inbound.enabled),
  );
  findings.push(
    checkDataDir(config.dataDir, {
      sqlite: config.databaseUrl === undefined,
      keyFile: config.masterKey === undefined,
    }),
  );
  findings.push(checkMasterKey(config.masterKey, config.dataDir));
  findings.push(
    ...checkMxTls(
      config.inbound.tlsCert,
      config.inbound.tlsKey,
      config.mxHosts,
      config.inbound.enabled,
      now(),
    ),
  );
  const database = await checkDatabase(config);
  try {
    findings.push(...database.findings);
    findings.push(...(await checkClock(database.store, now())));
  } finally {
    await database.store?.close();
  }
  findings.push(checkCaFile(config.security.caFile, now()));
  return findings;
}
