// The security engine's settings as an operator sets them (port, extra CAs, timeouts, the
// MTA-STS port, the check cache, networks outside the internet), and the one way the worker,
// the pre-flight check route and `securemail check` turn them into engine options, so all
// three judge a recipient the same way.

import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseNetworkList } from '../net/address-ranges.ts';
import { ConfigError, custom, integer, map } from '../settings.ts';
import type { SecurityOptions } from './options.ts';

export const SECURITY_SETTINGS = {
  smtpPort: integer('SECUREMAIL_SMTP_PORT', {
    default: 25,
    min: 1,
    max: 65535,
    doc: "Port of recipients' mail servers.",
  }),
  caFile: custom('SECUREMAIL_CA_FILE', {
    doc: 'PEM bundle of extra trusted CA certificates',
    shownDefault: 'none',
    parse: (text, context) => (text === undefined ? undefined : path.resolve(context.cwd, text)),
  }),
  connectTimeoutMs: integer('SECUREMAIL_SMTP_CONNECT_TIMEOUT_MS', {
    default: 30_000,
    min: 100,
    max: 600_000,
    doc: 'Time to connect to a mail server.',
  }),
  commandTimeoutMs: integer('SECUREMAIL_SMTP_COMMAND_TIMEOUT_MS', {
    default: 60_000,
    min: 100,
    max: 600_000,
    doc: 'Time for each SMTP reply and for the TLS handshake.',
  }),
  // RFC 5321 4.5.3.2: "DATA Termination: 10 minutes", since the server may check the whole
  // message before it answers; a client that gives up earlier sends the message twice.
  dataTimeoutMs: integer('SECUREMAIL_SMTP_DATA_TIMEOUT_MS', {
    default: 600_000,
    min: 100,
    max: 3_600_000,
    doc: "Time for the final reply to a message's content (after DATA's dot or BDAT LAST).",
  }),
  mtaStsPort: integer('SECUREMAIL_MTA_STS_PORT', {
    default: 443,
    min: 1,
    max: 65535,
    doc: 'HTTPS port of `mta-sts.<domain>` policy hosts.',
  }),
  checkCacheMs: map(
    integer('SECUREMAIL_CHECK_CACHE_SECONDS', {
      default: 300,
      min: 0,
      max: 86_400,
      doc: "How long `POST /security/check` reuses a domain's result",
    }),
    (seconds) => 1000 * seconds,
  ),
  allowNetworks: custom('SECUREMAIL_MX_ALLOW_NETWORKS', {
    doc: 'CIDRs outside the public internet that recipient MX hosts and MTA-STS policy hosts may be reached in',
    shownDefault: 'empty',
    parse: (text) => {
      try {
        return parseNetworkList(text ?? '').map((n) => n.text);
      } catch (error) {
        throw new ConfigError('SECUREMAIL_MX_ALLOW_NETWORKS', (error as Error).message);
      }
    },
  }),
};

export interface OutboundSecurityConfig {
  /** Port of recipient MX hosts: 25; tests point it elsewhere. TLSA is looked up for it. */
  smtpPort: number;
  /** PEM bundle of extra trusted CAs (SECUREMAIL_CA_FILE), read at start-up. */
  caFile: string | undefined;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  /** Time for the final reply to a message's content. */
  dataTimeoutMs: number;
  /** Port of MTA-STS policy hosts: 443; tests point it elsewhere. */
  mtaStsPort: number;
  /** How long POST /security/check reuses a domain's result. */
  checkCacheMs: number;
  /**
   * Networks outside the public internet that MX and MTA-STS hosts may be reached in
   * (SECUREMAIL_MX_ALLOW_NETWORKS, CIDRs); empty: public addresses only.
   */
  allowNetworks: string[];
}

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

/** The engine's options from the settings; the policy level is per account, the clock the caller's. */
export function outboundOptions(
  config: { security: OutboundSecurityConfig; hostname: string },
  extraCa: readonly string[],
): OutboundOptions {
  return {
    smtpPort: config.security.smtpPort,
    connectTimeoutMs: config.security.connectTimeoutMs,
    commandTimeoutMs: config.security.commandTimeoutMs,
    dataTimeoutMs: config.security.dataTimeoutMs,
    mtaStsPort: config.security.mtaStsPort,
    ehloName: config.hostname,
    extraCa,
    allowNetworks: config.security.allowNetworks,
  };
}
