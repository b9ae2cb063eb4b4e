// From configuration to the security engine's options, shared by the worker, the pre-flight
// check route and `securemail check`, so all three judge a recipient the same way.

import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type Config, ConfigError } from './config.ts';
import { createResolver, type DnsClient } from './dns/index.ts';
import type { SecurityOptions } from './security/options.ts';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates of SECUREMAIL_CA_FILE; a missing file or one without certificates stops start-up. */
export function readCaFile(file: string | undefined): string[] {
  if (file === undefined) return [];
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError('SECUREMAIL_CA_FILE', `cannot read ${file}: ${(error as Error).message}`);
  }
  const certificates = text.match(PEM_CERTIFICATE) ?? [];
  if (certificates.length === 0)
    throw new ConfigError('SECUREMAIL_CA_FILE', `${file} holds no PEM certificate`);
  for (const pem of certificates) {
    try {
      new X509Certificate(pem);
    } catch {
      throw new ConfigError(
        'SECUREMAIL_CA_FILE',
        `${file} holds a certificate that cannot be parsed`,
      );
    }
  }
  return certificates;
}

export type OutboundOptions = Partial<Omit<SecurityOptions, 'policyLevel' | 'now'>>;

export function outboundOptions(config: Config, extraCa: readonly string[]): OutboundOptions {
  return {
    smtpPort: config.security.smtpPort,
    connectTimeoutMs: config.security.connectTimeoutMs,
    commandTimeoutMs: config.security.commandTimeoutMs,
    mtaStsPort: config.security.mtaStsPort,
    ehloName: config.hostname,
    extraCa,
    allowNetworks: config.security.allowNetworks,
  };
}

/**
 * A DNS client on the configured resolvers with the configured AD trust: the one way the
 * service, the API and the CLI make one, so all of them believe DNSSEC alike.
 */
export function configuredResolver(config: Config, options: { cache?: boolean } = {}): DnsClient {
  return createResolver({
    servers: config.dnsServers,
    timeoutMs: config.dnsTimeoutMs,
    trustAd: config.dnsTrustAd,
    ...options,
  });
}
