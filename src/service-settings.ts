// The settings of the process itself: the platform's host name (EHLO, Message-IDs, the
// default MX host names), how much it logs and in which form, and how long a graceful stop
// may take.

import { custom, hostName, integer, oneOf } from './settings.ts';

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

/** JSON for machines (the default), or one readable line per event (src/cli/pretty-log.ts). */
export type LogFormat = 'json' | 'pretty';
const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty'];

export const SERVICE_SETTINGS = {
  hostname: custom('SECUREMAIL_HOSTNAME', {
    doc: "The platform's host name",
    shownDefault: '`localhost`',
    parse: (text) => hostName('SECUREMAIL_HOSTNAME', text ?? 'localhost'),
  }),
  logLevel: oneOf('SECUREMAIL_LOG_LEVEL', LOG_LEVELS, {
    default: 'info',
    doc: '`fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`.',
  }),
  logFormat: oneOf('SECUREMAIL_LOG_FORMAT', LOG_FORMATS, {
    default: 'json',
    doc: '`json` (one JSON object per line, for log collectors) or `pretty`',
  }),
  shutdownTimeoutMs: integer('SECUREMAIL_SHUTDOWN_TIMEOUT_MS', {
    default: 10_000,
    min: 0,
    max: 600_000,
    doc: 'How long a graceful shutdown may take before the process exits anyway.',
  }),
};

export interface ServiceSettings {
  /** Host name used in EHLO and shown as the platform name. */
  hostname: string;
  logLevel: LogLevel;
  logFormat: LogFormat;
  /** Grace period for in-flight work on SIGTERM before the process exits anyway. */
  shutdownTimeoutMs: number;
}
