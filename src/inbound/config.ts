// Settings of the bounce MX and of webhook delivery, read from the environment by the main
// configuration (which calls these pure functions). Limits have defaults sized for bounces:
// a DSN is a few kilobytes, so a small message size and rates keep the MX from being used
// to fill the disk.

import { booleanValue, ConfigError, type Env, envReader, integerValue } from '../config-values.ts';

export interface InboundConfig {
  /** False when SECUREMAIL_MX_PORT is 0: the mx role then does nothing. */
  enabled: boolean;
  host: string;
  /** 25 by default; tests pass 0 to startInboundMx for an ephemeral port. */
  port: number;
  /** File paths (or PEM text) of the STARTTLS certificate chain and key; undefined: self-signed. */
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  /** Largest message accepted (SIZE); larger ones get 552 and only their head is kept. */
  maxMessageBytes: number;
  /** How much of a message is stored for inspection. */
  keepBytes: number;
  /** The most stored of all received messages together (every MX process on the database). */
  storeBytes: number;
  maxConnections: number;
  /** Connections per remote address per minute. */
  connectionsPerMinute: number;
  /** Messages per remote address per minute. */
  messagesPerMinute: number;
  maxRecipients: number;
  socketTimeoutMs: number;
  /** Received bounces are deleted after this many days. */
  retentionDays: number;
}

export interface WebhookConfig {
  /** Allow targets on loopback/private/link-local addresses (tests, closed networks). */
  allowPrivate: boolean;
  /** An event is retried with backoff for this long, then given up. */
  retryHours: number;
  /** An endpoint failing without a single success for this long is disabled. */
  disableAfterHours: number;
  /** After a rotation, the previous secret also signs for this long. */
  secretOverlapHours: number;
  timeoutMs: number;
  pollMs: number;
  /** Deliveries in flight at once (per dispatcher). */
  concurrency: number;
}

export const DEFAULT_MX_PORT = 25;

const reader = envReader;

function integer(
  read: (name: string) => string | undefined,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  return integerValue(name, read(name), fallback, min, max);
}

function boolean(read: (name: string) => string | undefined, name: string): boolean {
  return booleanValue(name, read(name));
}

export function loadInboundConfig(env: Env): InboundConfig {
  const read = reader(env);
  const port = integer(read, 'SECUREMAIL_MX_PORT', DEFAULT_MX_PORT, 0, 65535);
  const tlsCert = read('SECUREMAIL_MX_TLS_CERT');
  const tlsKey = read('SECUREMAIL_MX_TLS_KEY');
  if ((tlsCert === undefined) !== (tlsKey === undefined)) {
    throw new ConfigError(
      tlsCert === undefined ? 'SECUREMAIL_MX_TLS_CERT' : 'SECUREMAIL_MX_TLS_KEY',
      'SECUREMAIL_MX_TLS_CERT and SECUREMAIL_MX_TLS_KEY must be set together',
    );
  }
  const maxMessageBytes = integer(
    read,
    'SECUREMAIL_MX_MAX_MESSAGE_BYTES',
    2 * 1024 * 1024,
    10 * 1024,
    50 * 1024 * 1024,
  );
  return {
    enabled: port !== 0,
    host: read('SECUREMAIL_MX_HOST') ?? '0.0.0.0',
    port,
    tlsCert,
    tlsKey,
    maxMessageBytes,
    keepBytes: integer(read, 'SECUREMAIL_MX_KEEP_BYTES', 256 * 1024, 1024, maxMessageBytes),
    storeBytes: integer(read, 'SECUREMAIL_MX_STORE_BYTES', 1024 ** 3, 0, 2 ** 50),
    maxConnections: integer(read, 'SECUREMAIL_MX_MAX_CONNECTIONS', 100, 1, 100_000),
    connectionsPerMinute: integer(read, 'SECUREMAIL_MX_CONNECTIONS_PER_MINUTE', 60, 1, 1e6),
    messagesPerMinute: integer(read, 'SECUREMAIL_MX_MESSAGES_PER_MINUTE', 120, 1, 1e6),
    maxRecipients: integer(read, 'SECUREMAIL_MX_MAX_RECIPIENTS', 20, 1, 1000),
    socketTimeoutMs: integer(read, 'SECUREMAIL_MX_SOCKET_TIMEOUT_MS', 60_000, 1000, 3_600_000),
    retentionDays: integer(read, 'SECUREMAIL_MX_RETENTION_DAYS', 30, 1, 3650),
  };
}

export function loadWebhookConfig(env: Env): WebhookConfig {
  const read = reader(env);
  return {
    allowPrivate: boolean(read, 'SECUREMAIL_WEBHOOK_ALLOW_PRIVATE'),
    retryHours: integer(read, 'SECUREMAIL_WEBHOOK_RETRY_HOURS', 24, 1, 24 * 14),
    disableAfterHours: integer(read, 'SECUREMAIL_WEBHOOK_DISABLE_AFTER_HOURS', 24, 1, 24 * 30),
    secretOverlapHours: integer(read, 'SECUREMAIL_WEBHOOK_SECRET_OVERLAP_HOURS', 24, 0, 24 * 30),
    timeoutMs: integer(read, 'SECUREMAIL_WEBHOOK_TIMEOUT_MS', 10_000, 100, 120_000),
    pollMs: integer(read, 'SECUREMAIL_WEBHOOK_POLL_MS', 1000, 10, 60_000),
    concurrency: integer(read, 'SECUREMAIL_WEBHOOK_CONCURRENCY', 8, 1, 256),
  };
}
