// Every setting of the service, read from the environment in one place, validated once at
// start-up and then frozen. A wrong value stops the process with a message that names the
// variable; nothing else in the code reads `process.env`.

import { isIP } from 'node:net';
import path from 'node:path';
import { type ConsoleConfig, loadConsoleConfig } from './api/console-config.ts';
import { ConfigError, type Env, envReader, integerValue } from './config-values.ts';
import {
  AD_TRUST_MODES,
  type AdTrust,
  DEFAULT_TIMEOUT_MS,
  defaultServers,
  parseServerList,
} from './dns/index.ts';
import type { DnsServer } from './dns/types.ts';
import {
  type InboundConfig,
  loadInboundConfig,
  loadWebhookConfig,
  type WebhookConfig,
} from './inbound/config.ts';
import { parseNetworkList } from './net/address-ranges.ts';

export { ConfigError };

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

export type Role = 'api' | 'worker' | 'mx';
export const ALL_ROLES: readonly Role[] = ['api', 'worker', 'mx'];

export type QuotaTimeUnit = 'second' | 'minute' | 'hour' | 'day' | 'month';
const QUOTA_TIME_UNITS: readonly QuotaTimeUnit[] = ['second', 'minute', 'hour', 'day', 'month'];

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = [
  'fatal',
  'error',
  'warn',
  'info',
  'debug',
  'trace',
  'silent',
];

export interface Config {
  /** PostgreSQL connection string; undefined means the embedded SQLite database. */
  databaseUrl: string | undefined;
  dataDir: string;
  /** The SQLite file, inside `dataDir`. */
  sqlitePath: string;
  httpHost: string;
  httpPort: number;
  /** Prefix of the API routes (`/account`, `/message`), '' or '/something' without trailing slash. */
  basePath: string;
  /** Base64 or hex of 32 bytes; undefined means: use (or create) `<dataDir>/master.key`. */
  masterKey: string | undefined;
  quota: {
    /** Requests a client may make per window. */
    limit: number;
    interval: number;
    timeUnit: QuotaTimeUnit;
  };
  /** Lifetime of an OAuth access token in seconds (KPN: 3599). */
  tokenTtlSeconds: number;
  /** Failed token requests allowed per client id and per address, per sliding window. */
  tokenFailures: { perClient: number; perAddress: number; windowMs: number };
  /** Largest request body accepted outside `POST /message`. */
  bodyLimitBytes: number;
  corsOrigin: string;
  logLevel: LogLevel;
  /** Also answered as the `api-version` header. */
  apiVersion: string;
  /** Host name used in EHLO and shown as the platform name. */
  hostname: string;
  /** The two host names account owners point their bounce MX records at. */
  mxHosts: [string, string];
  /** What the SPF record of a bounce subdomain includes (`include:` target), if set. */
  spfInclude: string | undefined;
  /** Addresses the SPF record authorizes explicitly (`ip4:` / `ip6:`). */
  spfIps: string[];
  /** Public URL of the service, used in docs (Swagger's token URL). */
  publicUrl: string | undefined;
  /** Grace period for in-flight work on SIGTERM before the process exits anyway. */
  shutdownTimeoutMs: number;
  sending: SendingConfig;
  delivery: DeliveryConfig;
  security: OutboundSecurityConfig;
  inbound: InboundConfig;
  webhooks: WebhookConfig;
  /** The web console (SECUREMAIL_CONSOLE); see docs/console.md. */
  console: ConsoleConfig;
  /** The resolvers asked for every DNS lookup (SECUREMAIL_DNS_SERVERS; default: resolv.conf). */
  dnsServers: DnsServer[];
  /** Per query to one resolver. */
  dnsTimeoutMs: number;
  /** Whose AD bit marks DNSSEC-secure data (SECUREMAIL_DNS_TRUST_AD); see AdTrust. */
  dnsTrustAd: AdTrust;
  /**
   * Suffixes taken as public suffixes besides the Public Suffix List, so sending domains
   * under them can be onboarded (SECUREMAIL_PRIVATE_SUFFIXES; private deployments, staging).
   */
  privateSuffixes: string[];
  /** Where DMARC aggregate reports of the suggested record go; undefined: see dmarcRecord(). */
  dmarcRua: string | undefined;
  /** The label under the domain that carries the ownership TXT record, e.g. `_securemail`. */
  ownershipLabel: string;
  verification: VerificationSchedule;
}

/** When the background verifier looks at a domain again; see src/accounts/verification.ts. */
export interface VerificationSchedule {
  /** Delay before the first check after an account is made, doubled per failed check. */
  firstDelayMinutes: number;
  /** The doubling stops here: from then on an unverified domain is checked this often. */
  maxDelayMinutes: number;
  /** An unverified domain becomes `failed` when it has not verified for this long. */
  giveUpHours: number;
  /** How often a `valid` domain is checked again. */
  recheckHours: number;
  /** How often the worker looks for due checks. */
  pollSeconds: number;
}

export interface SendingConfig {
  /** Entries in `recipients` per POST /message (duplicates included; the schema's maxItems). */
  maxRecipients: number;
  /** Largest MIME message accepted. */
  maxMessageBytes: number;
  /** Messages an account may submit per UTC day. */
  messagesPerDay: number;
}

export interface DeliveryConfig {
  /** Deferred recipients are retried this long after acceptance, then end `expired`. */
  retryWindowMs: number;
  /** SMTP sessions a worker process keeps open at once. */
  concurrency: number;
  /** Recipients claimed per round. */
  batchSize: number;
  /** A claim lasts this long; a crashed worker's recipients are claimable again after it. */
  leaseMs: number;
  /** Message bodies are deleted this long after their last recipient became final. */
  bodyRetentionMs: number;
  /** Attempts and their evidence are kept this long. */
  evidenceRetentionMs: number;
}

export interface OutboundSecurityConfig {
  /** Port of recipient MX hosts: 25; tests point it elsewhere. TLSA is looked up for it. */
  smtpPort: number;
  /** PEM bundle of extra trusted CAs (SECUREMAIL_CA_FILE), read at start-up. */
  caFile: string | undefined;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
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

/** Reads and validates the whole configuration. Throws `ConfigError` on the first bad value. */
export function loadConfig(env: Env, cwd: string = process.cwd()): Readonly<Config> {
  const read = envReader(env);

  const databaseUrl = read('DATABASE_URL');
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL', 'must be a postgres:// or postgresql:// URL');
  }
  const dataDir = path.resolve(cwd, read('SECUREMAIL_DATA_DIR') ?? 'data');
  const hostname = hostName('SECUREMAIL_HOSTNAME', read('SECUREMAIL_HOSTNAME') ?? 'localhost');

  const mxHostsText = read('SECUREMAIL_MX_HOSTS') ?? `mx1.${hostname}, mx2.${hostname}`;
  const mxHosts = mxHostsText.split(',').map((h) => hostName('SECUREMAIL_MX_HOSTS', h.trim()));
  if (mxHosts.length !== 2) {
    throw new ConfigError(
      'SECUREMAIL_MX_HOSTS',
      'must name exactly two host names, comma-separated',
    );
  }

  const spfIps = (read('SECUREMAIL_SPF_IPS') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const ip of spfIps) {
    const bare = ip.split('/')[0] ?? '';
    if (isIP(bare) === 0)
      throw new ConfigError('SECUREMAIL_SPF_IPS', `"${ip}" is not an IP address or prefix`);
  }
  const spfIncludeText = read('SECUREMAIL_SPF_INCLUDE');

  let dnsServers: DnsServer[];
  const dnsServersText = read('SECUREMAIL_DNS_SERVERS');
  try {
    dnsServers = dnsServersText === undefined ? defaultServers() : parseServerList(dnsServersText);
  } catch (error) {
    throw new ConfigError('SECUREMAIL_DNS_SERVERS', (error as Error).message);
  }

  let allowNetworks: string[];
  try {
    allowNetworks = parseNetworkList(read('SECUREMAIL_MX_ALLOW_NETWORKS') ?? '').map((n) => n.text);
  } catch (error) {
    throw new ConfigError('SECUREMAIL_MX_ALLOW_NETWORKS', (error as Error).message);
  }
  const privateSuffixes = (read('SECUREMAIL_PRIVATE_SUFFIXES') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => hostName('SECUREMAIL_PRIVATE_SUFFIXES', s.replace(/^\./, '')));

  const config: Config = {
    databaseUrl,
    dataDir,
    sqlitePath: path.join(dataDir, 'securemail.db'),
    httpHost: read('SECUREMAIL_HTTP_HOST') ?? '127.0.0.1',
    httpPort: integer('SECUREMAIL_HTTP_PORT', read('SECUREMAIL_HTTP_PORT'), 8080, 0, 65535),
    basePath: basePath(read('SECUREMAIL_BASE_PATH')),
    masterKey: read('SECUREMAIL_MASTER_KEY'),
    quota: {
      limit: integer('SECUREMAIL_QUOTA_LIMIT', read('SECUREMAIL_QUOTA_LIMIT'), 600, 1, 1e9),
      interval: integer('SECUREMAIL_QUOTA_INTERVAL', read('SECUREMAIL_QUOTA_INTERVAL'), 1, 1, 1e6),
      timeUnit: oneOf(
        'SECUREMAIL_QUOTA_TIME_UNIT',
        read('SECUREMAIL_QUOTA_TIME_UNIT'),
        QUOTA_TIME_UNITS,
        'minute',
      ),
    },
    tokenTtlSeconds: integer('SECUREMAIL_TOKEN_TTL', read('SECUREMAIL_TOKEN_TTL'), 3599, 60, 86400),
    tokenFailures: tokenFailureLimits(read),
    bodyLimitBytes: integer(
      'SECUREMAIL_BODY_LIMIT',
      read('SECUREMAIL_BODY_LIMIT'),
      1024 * 1024,
      1024,
      1024 ** 3,
    ),
    corsOrigin: read('SECUREMAIL_CORS_ORIGIN') ?? '*',
    logLevel: oneOf('SECUREMAIL_LOG_LEVEL', read('SECUREMAIL_LOG_LEVEL'), LOG_LEVELS, 'info'),
    apiVersion: read('SECUREMAIL_API_VERSION') ?? '1',
    hostname,
    mxHosts: [mxHosts[0]!, mxHosts[1]!],
    spfInclude:
      spfIncludeText === undefined ? undefined : hostName('SECUREMAIL_SPF_INCLUDE', spfIncludeText),
    spfIps,
    publicUrl: publicUrl(read('SECUREMAIL_PUBLIC_URL')),
    shutdownTimeoutMs: integer(
      'SECUREMAIL_SHUTDOWN_TIMEOUT_MS',
      read('SECUREMAIL_SHUTDOWN_TIMEOUT_MS'),
      10_000,
      0,
      600_000,
    ),
    sending: {
      maxRecipients: integer(
        'SECUREMAIL_MAX_RECIPIENTS',
        read('SECUREMAIL_MAX_RECIPIENTS'),
        10_000,
        1,
        1_000_000,
      ),
      maxMessageBytes: integer(
        'SECUREMAIL_MAX_MESSAGE_BYTES',
        read('SECUREMAIL_MAX_MESSAGE_BYTES'),
        25 * 1024 * 1024,
        1024,
        200 * 1024 * 1024,
      ),
      messagesPerDay: integer(
        'SECUREMAIL_MESSAGES_PER_DAY',
        read('SECUREMAIL_MESSAGES_PER_DAY'),
        100_000,
        1,
        1e9,
      ),
    },
    delivery: {
      retryWindowMs:
        HOUR_MS *
        integer(
          'SECUREMAIL_RETRY_WINDOW_HOURS',
          read('SECUREMAIL_RETRY_WINDOW_HOURS'),
          48,
          1,
          24 * 30,
        ),
      concurrency: integer(
        'SECUREMAIL_WORKER_CONCURRENCY',
        read('SECUREMAIL_WORKER_CONCURRENCY'),
        20,
        1,
        1000,
      ),
      batchSize: integer(
        'SECUREMAIL_WORKER_BATCH',
        read('SECUREMAIL_WORKER_BATCH'),
        500,
        1,
        10_000,
      ),
      leaseMs:
        1000 *
        integer('SECUREMAIL_LEASE_SECONDS', read('SECUREMAIL_LEASE_SECONDS'), 600, 10, 86_400),
      bodyRetentionMs:
        DAY_MS *
        integer(
          'SECUREMAIL_BODY_RETENTION_DAYS',
          read('SECUREMAIL_BODY_RETENTION_DAYS'),
          7,
          0,
          3650,
        ),
      evidenceRetentionMs:
        DAY_MS *
        integer(
          'SECUREMAIL_EVIDENCE_RETENTION_DAYS',
          read('SECUREMAIL_EVIDENCE_RETENTION_DAYS'),
          365,
          1,
          3650,
        ),
    },
    security: {
      smtpPort: integer('SECUREMAIL_SMTP_PORT', read('SECUREMAIL_SMTP_PORT'), 25, 1, 65535),
      caFile:
        read('SECUREMAIL_CA_FILE') === undefined
          ? undefined
          : path.resolve(cwd, read('SECUREMAIL_CA_FILE')!),
      connectTimeoutMs: integer(
        'SECUREMAIL_SMTP_CONNECT_TIMEOUT_MS',
        read('SECUREMAIL_SMTP_CONNECT_TIMEOUT_MS'),
        30_000,
        100,
        600_000,
      ),
      commandTimeoutMs: integer(
        'SECUREMAIL_SMTP_COMMAND_TIMEOUT_MS',
        read('SECUREMAIL_SMTP_COMMAND_TIMEOUT_MS'),
        60_000,
        100,
        600_000,
      ),
      mtaStsPort: integer(
        'SECUREMAIL_MTA_STS_PORT',
        read('SECUREMAIL_MTA_STS_PORT'),
        443,
        1,
        65535,
      ),
      checkCacheMs:
        1000 *
        integer(
          'SECUREMAIL_CHECK_CACHE_SECONDS',
          read('SECUREMAIL_CHECK_CACHE_SECONDS'),
          300,
          0,
          86_400,
        ),
      allowNetworks,
    },
    inbound: loadInboundConfig(env),
    webhooks: loadWebhookConfig(env),
    console: loadConsoleConfig(env),
    dnsServers,
    dnsTimeoutMs: integer(
      'SECUREMAIL_DNS_TIMEOUT_MS',
      read('SECUREMAIL_DNS_TIMEOUT_MS'),
      DEFAULT_TIMEOUT_MS,
      10,
      60_000,
    ),
    dnsTrustAd: oneOf(
      'SECUREMAIL_DNS_TRUST_AD',
      read('SECUREMAIL_DNS_TRUST_AD'),
      AD_TRUST_MODES,
      'auto',
    ),
    privateSuffixes,
    dmarcRua: mailbox('SECUREMAIL_DMARC_RUA', read('SECUREMAIL_DMARC_RUA')),
    ownershipLabel: ownershipLabel(read('SECUREMAIL_OWNERSHIP_LABEL')),
    verification: verificationSchedule(read),
  };
  if (config.masterKey !== undefined) parseMasterKey(config.masterKey, 'SECUREMAIL_MASTER_KEY');
  return deepFreeze(config);
}

/** Decodes a 32-byte key given as 64 hex digits or base64/base64url. */
export function parseMasterKey(text: string, variable: string): Buffer {
  const trimmed = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed)
    ? Buffer.from(trimmed, 'hex')
    : Buffer.from(trimmed, 'base64');
  if (key.length !== 32) {
    throw new ConfigError(
      variable,
      'must be 32 random bytes, as 64 hex digits or base64 (openssl rand -base64 32)',
    );
  }
  return key;
}

const integer = integerValue;

function oneOf<T extends string>(
  name: string,
  text: string | undefined,
  allowed: readonly T[],
  fallback: T,
): T {
  if (text === undefined) return fallback;
  const found = allowed.find((a) => a === text.toLowerCase());
  if (found === undefined)
    throw new ConfigError(name, `must be one of ${allowed.join(', ')}, got "${text}"`);
  return found;
}

function basePath(text: string | undefined): string {
  if (text === undefined || text === '/') return '';
  if (!/^(\/[A-Za-z0-9._~-]+)+\/?$/.test(text)) {
    throw new ConfigError('SECUREMAIL_BASE_PATH', `must look like "/api/v1", got "${text}"`);
  }
  return text.replace(/\/$/, '');
}

function hostName(name: string, text: string): string {
  const host = text.toLowerCase().replace(/\.$/, '');
  const label = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
  if (host.length > 253 || !host.split('.').every((l) => label.test(l))) {
    throw new ConfigError(name, `"${text}" is not a valid host name`);
  }
  return host;
}

// An e-mail address for a `mailto:` URI in DNS; the `mailto:` prefix may be given or not.
function mailbox(name: string, text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const address = text.replace(/^mailto:/i, '');
  const at = address.lastIndexOf('@');
  if (at <= 0 || /[\s,;!]/.test(address)) {
    throw new ConfigError(name, `must be an e-mail address, got "${text}"`);
  }
  const domain = hostName(name, address.slice(at + 1));
  return `${address.slice(0, at)}@${domain}`;
}

function ownershipLabel(text: string | undefined): string {
  if (text === undefined) return '_securemail';
  const label = text.toLowerCase();
  if (!/^_?[a-z0-9]([a-z0-9-]{0,60}[a-z0-9])?$/.test(label)) {
    throw new ConfigError(
      'SECUREMAIL_OWNERSHIP_LABEL',
      `must be one DNS label such as "_securemail", got "${text}"`,
    );
  }
  return label;
}

// 10 failures per client id and 30 per address in 5 minutes: a client with a mistyped
// secret learns it long before the limit matters, a guesser gets 2 tries a minute.
function tokenFailureLimits(read: (name: string) => string | undefined): Config['tokenFailures'] {
  const setting = (name: string, fallback: number, max: number) =>
    integer(name, read(name), fallback, 1, max);
  return {
    perClient: setting('SECUREMAIL_TOKEN_FAILURES_PER_CLIENT', 10, 1e6),
    perAddress: setting('SECUREMAIL_TOKEN_FAILURES_PER_ADDRESS', 30, 1e6),
    windowMs: 1000 * setting('SECUREMAIL_TOKEN_FAILURE_WINDOW_SECONDS', 300, 86_400),
  };
}

function verificationSchedule(read: (name: string) => string | undefined): VerificationSchedule {
  const setting = (name: string, fallback: number, min: number, max: number) =>
    integer(name, read(name), fallback, min, max);
  const schedule: VerificationSchedule = {
    firstDelayMinutes: setting('SECUREMAIL_VERIFY_FIRST_DELAY_MINUTES', 2, 1, 1440),
    maxDelayMinutes: setting('SECUREMAIL_VERIFY_MAX_DELAY_MINUTES', 60, 1, 1440),
    giveUpHours: setting('SECUREMAIL_VERIFY_GIVE_UP_HOURS', 72, 1, 24 * 90),
    recheckHours: setting('SECUREMAIL_VERIFY_RECHECK_HOURS', 24, 1, 24 * 30),
    pollSeconds: setting('SECUREMAIL_VERIFY_POLL_SECONDS', 30, 1, 3600),
  };
  if (schedule.maxDelayMinutes < schedule.firstDelayMinutes) {
    throw new ConfigError(
      'SECUREMAIL_VERIFY_MAX_DELAY_MINUTES',
      `must not be below SECUREMAIL_VERIFY_FIRST_DELAY_MINUTES (${schedule.firstDelayMinutes})`,
    );
  }
  return schedule;
}

function publicUrl(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  try {
    const url = new URL(text);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('scheme');
    return url.toString().replace(/\/$/, '');
  } catch {
    throw new ConfigError('SECUREMAIL_PUBLIC_URL', `must be an http(s) URL, got "${text}"`);
  }
}

function deepFreeze<T extends object>(value: T): Readonly<T> {
  for (const inner of Object.values(value)) {
    if (inner !== null && typeof inner === 'object') deepFreeze(inner as object);
  }
  return Object.freeze(value);
}
