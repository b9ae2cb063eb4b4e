// The API's settings: where it listens, under which path, what each client may do per quota
// window and per token, how large a body may be, and what it says about itself. AppConfig is
// everything buildApp() reads: these, and the settings of the modules the API serves.

import type { AccountSettings, VerificationSchedule } from '../accounts/settings.ts';
import type { DnsSettings } from '../dns/settings.ts';
import type { SendingConfig } from '../messages/settings.ts';
import type { WebhookConfig } from '../notify/settings.ts';
import type { PrivacySettings } from '../privacy/settings.ts';
import type { RetentionSettings } from '../recipients/settings.ts';
import type { OutboundSecurityConfig } from '../security/settings.ts';
import { ConfigError, custom, integer, map, oneOf, text } from '../settings.ts';

export type QuotaTimeUnit = 'second' | 'minute' | 'hour' | 'day' | 'week' | 'month';
const QUOTA_TIME_UNITS: readonly QuotaTimeUnit[] = [
  'second',
  'minute',
  'hour',
  'day',
  'week',
  'month',
];

export const API_SETTINGS = {
  httpHost: text('SECUREMAIL_HTTP_HOST', {
    default: '127.0.0.1',
    doc: 'Address the API listens on.',
  }),
  httpPort: integer('SECUREMAIL_HTTP_PORT', {
    default: 8080,
    min: 0,
    max: 65535,
    doc: 'Port the API listens on',
  }),
  basePath: custom('SECUREMAIL_BASE_PATH', {
    doc: 'Prefix of the API routes',
    shownDefault: 'empty',
    parse: basePath,
  }),
  quota: {
    limit: integer('SECUREMAIL_QUOTA_LIMIT', {
      default: 600,
      min: 1,
      max: 1e9,
      doc: 'Requests per window per client',
    }),
    interval: integer('SECUREMAIL_QUOTA_INTERVAL', {
      default: 1,
      min: 1,
      max: 1e6,
      doc: 'Length of the quota window, in units.',
    }),
    timeUnit: oneOf('SECUREMAIL_QUOTA_TIME_UNIT', QUOTA_TIME_UNITS, {
      default: 'minute',
      doc: '`second`, `minute`, `hour`, `day`, `week` or `month`',
    }),
  },
  tokenTtlSeconds: integer('SECUREMAIL_TOKEN_TTL', {
    default: 3599,
    min: 60,
    max: 86400,
    doc: 'Access token lifetime in seconds',
  }),
  // 10 failures per client id and 30 per address in 5 minutes: a client with a mistyped
  // secret learns it long before the limit matters, a guesser gets 2 tries a minute.
  tokenFailures: {
    perClient: integer('SECUREMAIL_TOKEN_FAILURES_PER_CLIENT', {
      default: 10,
      min: 1,
      max: 1e6,
      doc: 'Failed token requests per client id within the window',
    }),
    perAddress: integer('SECUREMAIL_TOKEN_FAILURES_PER_ADDRESS', {
      default: 30,
      min: 1,
      max: 1e6,
      doc: 'The same per source address',
    }),
    windowMs: map(
      integer('SECUREMAIL_TOKEN_FAILURE_WINDOW_SECONDS', {
        default: 300,
        min: 1,
        max: 86_400,
        doc: 'The sliding window both limits count in.',
      }),
      (seconds) => 1000 * seconds,
    ),
  },
  // Time limits of the HTTP server, so that slow or idle clients cannot hold connections (a
  // client sending a byte a second kept one open for as long as it liked). Node's defaults
  // are 60 s for headers, 300 s for a request, 5 s keep-alive and no connection limit.
  http: {
    requestTimeoutMs: map(
      integer('SECUREMAIL_HTTP_REQUEST_TIMEOUT_SECONDS', {
        default: 300,
        min: 1,
        max: 86_400,
        doc: 'Time for a whole request (headers and body) to arrive',
      }),
      (seconds) => 1000 * seconds,
    ),
    headersTimeoutMs: map(
      integer('SECUREMAIL_HTTP_HEADERS_TIMEOUT_SECONDS', {
        default: 30,
        min: 1,
        // Node requires the headers' time to be within the whole request's time.
        max: (earlier) => Math.min(3600, (earlier.requestTimeoutMs as number) / 1000),
        doc: "Time for a request's headers to arrive",
      }),
      (seconds) => 1000 * seconds,
    ),
    keepAliveMs: map(
      integer('SECUREMAIL_HTTP_KEEP_ALIVE_SECONDS', {
        default: 75,
        min: 1,
        max: 3600,
        doc: 'How long an idle keep-alive connection stays open',
      }),
      (seconds) => 1000 * seconds,
    ),
    maxConnections: integer('SECUREMAIL_HTTP_MAX_CONNECTIONS', {
      default: 1000,
      min: 1,
      max: 1_000_000,
      doc: 'Simultaneous connections to the API',
    }),
  },
  bodyLimitBytes: integer('SECUREMAIL_BODY_LIMIT', {
    default: 1024 * 1024,
    min: 1024,
    max: 1024 ** 3,
    doc: 'Largest request body in bytes',
  }),
  corsOrigin: text('SECUREMAIL_CORS_ORIGIN', {
    default: '*',
    doc: 'Value of `access-control-allow-origin`.',
  }),
  apiVersion: text('SECUREMAIL_API_VERSION', {
    default: '1',
    doc: 'Sent as the `api-version` header and in the OpenAPI document.',
  }),
  // The web console (docs/console.md); off where only the API should be reachable (a
  // machine-to-machine deployment, a hardened API host).
  console: {
    enabled: custom('SECUREMAIL_CONSOLE', {
      doc: 'Serve the web console under `/console`',
      shownDefault: '`on`',
      parse: consoleSwitch,
    }),
  },
  publicUrl: custom('SECUREMAIL_PUBLIC_URL', {
    doc: 'Public base URL',
    shownDefault: 'unset',
    parse: publicUrl,
  }),
};

export interface ApiSettings {
  httpHost: string;
  httpPort: number;
  /** Prefix of the API routes (`/account`, `/message`), '' or '/something' without trailing slash. */
  basePath: string;
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
  /** Time limits and the connection cap of the HTTP server. */
  http: HttpServerLimits;
  /** Largest request body accepted outside `POST /message`. */
  bodyLimitBytes: number;
  corsOrigin: string;
  /** Also answered as the `api-version` header. */
  apiVersion: string;
  /** Public URL of the service, used in docs (Swagger's token URL). */
  publicUrl: string | undefined;
  /** The web console (SECUREMAIL_CONSOLE); see docs/console.md. */
  console: { enabled: boolean };
}

export interface HttpServerLimits {
  /** A request whose headers are not in after this long is answered 408 and closed. */
  headersTimeoutMs: number;
  /** The same for the whole request, body included. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this long. */
  keepAliveMs: number;
  /** Connections beyond this many are closed at once. */
  maxConnections: number;
}

/** Everything buildApp() reads of the configuration. */
export interface AppConfig extends ApiSettings, AccountSettings, DnsSettings {
  /** The platform's host name (the default base of the DNS records accounts publish). */
  hostname: string;
  sending: SendingConfig;
  webhooks: WebhookConfig;
  security: OutboundSecurityConfig;
  verification: VerificationSchedule;
  /** The retry window (GET /stats), and with retention the settings the auditor's report states. */
  delivery: { retryWindowMs: number } & RetentionSettings;
  /** Kept bounces' retention, stated by the auditor's report. */
  inbound: { retentionDays: number };
  /** Retention of webhook events and notices, stated by the auditor's report. */
  privacy: PrivacySettings;
}

function basePath(text: string | undefined): string {
  if (text === undefined || text === '/') return '';
  if (!/^(\/[A-Za-z0-9._~-]+)+\/?$/.test(text)) {
    throw new ConfigError('SECUREMAIL_BASE_PATH', `must look like "/api/v1", got "${text}"`);
  }
  return text.replace(/\/$/, '');
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

const CONSOLE_ON = ['on', 'true', '1', 'yes'];
const CONSOLE_OFF = ['off', 'false', '0', 'no'];

function consoleSwitch(text: string | undefined): boolean {
  if (text === undefined) return true;
  const lower = text.toLowerCase();
  if (CONSOLE_ON.includes(lower)) return true;
  if (CONSOLE_OFF.includes(lower)) return false;
  throw new ConfigError('SECUREMAIL_CONSOLE', `must be on or off, got "${text}"`);
}
