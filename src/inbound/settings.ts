// Settings of the bounce MX. Limits have defaults sized for bounces: a DSN is a few
// kilobytes, so a small message size and rates keep the MX from being used to fill the disk.

import {
  ConfigError,
  custom,
  type Env,
  integer,
  map,
  readSettings,
  type SettingContext,
  text,
} from '../settings.ts';

export const DEFAULT_MX_PORT = 25;

export const INBOUND_SETTINGS = {
  port: integer('SECUREMAIL_MX_PORT', {
    default: DEFAULT_MX_PORT,
    min: 0,
    max: 65535,
    doc: 'Its port',
  }),
  tlsCert: text('SECUREMAIL_MX_TLS_CERT', {
    doc: 'PEM files (or PEM text) of the certificate chain and key offered with STARTTLS',
    shownDefault: 'unset',
  }),
  tlsKey: custom('SECUREMAIL_MX_TLS_KEY', {
    doc: 'PEM files (or PEM text) of the certificate chain and key offered with STARTTLS',
    shownDefault: 'unset',
    parse: (key, context) => {
      const cert = context.earlier.tlsCert;
      if ((cert === undefined) !== (key === undefined)) {
        throw new ConfigError(
          cert === undefined ? 'SECUREMAIL_MX_TLS_CERT' : 'SECUREMAIL_MX_TLS_KEY',
          'SECUREMAIL_MX_TLS_CERT and SECUREMAIL_MX_TLS_KEY must be set together',
        );
      }
      return key;
    },
  }),
  maxMessageBytes: integer('SECUREMAIL_MX_MAX_MESSAGE_BYTES', {
    default: 2 * 1024 * 1024,
    min: 10 * 1024,
    max: 50 * 1024 * 1024,
    doc: 'Largest message accepted',
  }),
  host: text('SECUREMAIL_MX_HOST', {
    default: '0.0.0.0',
    doc: 'Address the bounce MX listens on',
  }),
  keepBytes: integer('SECUREMAIL_MX_KEEP_BYTES', {
    default: 256 * 1024,
    min: 1024,
    // Never more than a message may have.
    max: (earlier) => earlier.maxMessageBytes as number,
    doc: 'How much of a message is stored for inspection.',
  }),
  storeBytes: integer('SECUREMAIL_MX_STORE_BYTES', {
    default: 1024 ** 3,
    min: 0,
    max: 2 ** 50,
    doc: 'The most kept of all received messages together',
  }),
  maxConnections: integer('SECUREMAIL_MX_MAX_CONNECTIONS', {
    default: 100,
    min: 1,
    max: 100_000,
    doc: 'Simultaneous connections.',
  }),
  // A tenth of the slots per address: one sender (or one client trickling bytes) cannot hold
  // them all, while a busy MTA keeps the handful of connections it opens to one host.
  connectionsPerAddress: integer('SECUREMAIL_MX_CONNECTIONS_PER_ADDRESS', {
    default: 10,
    min: 1,
    max: 100_000,
    doc: 'Simultaneous connections per remote address',
  }),
  connectionsPerMinute: integer('SECUREMAIL_MX_CONNECTIONS_PER_MINUTE', {
    default: 60,
    min: 1,
    max: 1e6,
    doc: 'New connections per remote address per minute',
  }),
  messagesPerMinute: integer('SECUREMAIL_MX_MESSAGES_PER_MINUTE', {
    default: 120,
    min: 1,
    max: 1e6,
    doc: 'Messages per remote address per minute',
  }),
  maxRecipients: integer('SECUREMAIL_MX_MAX_RECIPIENTS', {
    default: 20,
    min: 1,
    max: 1000,
    doc: 'Recipients per message',
  }),
  socketTimeoutMs: integer('SECUREMAIL_MX_SOCKET_TIMEOUT_MS', {
    default: 60_000,
    min: 1000,
    max: 3_600_000,
    doc: 'Idle time before a connection is closed.',
  }),
  // The idle timeout restarts with every byte: a client sending one a second was never cut
  // off. This limit is measured from the connection and nothing extends it; 10 minutes is
  // RFC 5321 4.5.3.2's longest wait for one reply, ample for a DSN of a few megabytes.
  sessionTimeoutMs: map(
    integer('SECUREMAIL_MX_SESSION_TIMEOUT_SECONDS', {
      default: 600,
      min: 1,
      max: 86_400,
      doc: 'Longest a connection may last, however active',
    }),
    (seconds) => 1000 * seconds,
  ),
  retentionDays: integer('SECUREMAIL_MX_RETENTION_DAYS', {
    default: 30,
    min: 1,
    max: 3650,
    doc: 'Received messages are deleted after this many days.',
  }),
};

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
  /** Simultaneous connections per remote address. */
  connectionsPerAddress: number;
  /** Connections per remote address per minute. */
  connectionsPerMinute: number;
  /** Messages per remote address per minute. */
  messagesPerMinute: number;
  maxRecipients: number;
  socketTimeoutMs: number;
  /** A connection is answered 421 4.4.2 and closed after this long, however active. */
  sessionTimeoutMs: number;
  /** Received bounces are deleted after this many days. */
  retentionDays: number;
}

export function loadInboundConfig(
  env: Env,
  context: Omit<SettingContext, 'earlier'> = { cwd: '.', hostname: 'localhost' },
): InboundConfig {
  const { port, host, tlsCert, tlsKey, maxMessageBytes, keepBytes, ...limits } = readSettings(
    INBOUND_SETTINGS,
    env,
    context,
  );
  return {
    enabled: port !== 0,
    host,
    port,
    tlsCert,
    tlsKey,
    maxMessageBytes,
    keepBytes,
    ...limits,
  };
}
