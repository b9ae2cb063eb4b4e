// Telling "the database is away" from everything else. The API answers such failures with 503
// and Retry-After (not 500: nothing is wrong with the request, and nothing was stored), and
// the background loops wait and try again with a backoff instead of logging every failed
// query. What counts as away:
//
// - PostgreSQL: the connection could not be made or was lost (ECONNREFUSED, ECONNRESET,
//   ETIMEDOUT, EPIPE, EHOSTUNREACH, ENOTFOUND, "Connection terminated", "timeout exceeded
//   when trying to connect" of the pool), the server shutting down or not yet accepting
//   (57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now), connection
//   exceptions (class 08), too many connections (53300), out of disk or memory (53100,
//   53200), a read-only server (25006, a standby after a failover).
// - SQLite: the disk is full (SQLITE_FULL), the file cannot be read or written (SQLITE_IOERR,
//   SQLITE_CANTOPEN, SQLITE_READONLY), or it stayed locked past the busy timeout
//   (SQLITE_BUSY, SQLITE_LOCKED).
// A constraint violation, a syntax error or a bug is none of these: it stays a 500.

/** Node's socket errors that mean the database server could not be reached or went away. */
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** PostgreSQL SQLSTATEs of a server that is away, going away, or cannot take writes. */
const PG_CODES = new Set(['57P01', '57P02', '57P03', '53100', '53200', '53300', '25006']);

/** SQLite primary result codes (extended codes carry them in their low byte). */
const SQLITE_PRIMARY = new Set([
  5, // SQLITE_BUSY: still locked when the busy timeout ran out
  6, // SQLITE_LOCKED
  8, // SQLITE_READONLY
  10, // SQLITE_IOERR
  13, // SQLITE_FULL
  14, // SQLITE_CANTOPEN
]);

const MESSAGES = [
  /connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /connection timeout/i,
  /client has encountered a connection error and is not queryable/i,
  /cannot use a pool after calling end/i,
  /database or disk is full/i,
  /disk i\/o error/i,
  /unable to open database file/i,
  /attempt to write a readonly database/i,
  /database is locked/i,
];

/** True when `error` (or an error it was caused by) says the database is away. */
export function isStorageUnavailable(error: unknown): boolean {
  for (let e = error, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    if (typeof e !== 'object') return false;
    if (unavailable(e as Record<string, unknown>)) return true;
    // AggregateError (a connection to every address of a host failed) and error causes.
    const errors = (e as { errors?: unknown }).errors;
    if (Array.isArray(errors) && errors.some((inner) => isStorageUnavailable(inner))) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

function unavailable(e: Record<string, unknown>): boolean {
  const code = e.code;
  if (typeof code === 'string') {
    if (SOCKET_CODES.has(code) || PG_CODES.has(code)) return true;
    // Class 08: connection exception.
    if (/^08[0-9A-Z]{3}$/.test(code)) return true;
    if (/^SQLITE_(FULL|IOERR|CANTOPEN|READONLY|BUSY|LOCKED)/.test(code)) return true;
  }
  // node:sqlite: code 'ERR_SQLITE_ERROR' with the SQLite result code in `errcode`.
  const errcode = e.errcode;
  if (typeof errcode === 'number' && SQLITE_PRIMARY.has(errcode & 0xff)) return true;
  const message = e.message;
  return typeof message === 'string' && MESSAGES.some((m) => m.test(message));
}

/** What an outage is logged with (a pino logger is one). */
export interface OutageLogger {
  warn(details: object, message: string): void;
  info(details: object, message: string): void;
  /** Errors that are not an outage; warn when absent. */
  error?(details: object, message: string): void;
}

/** Backoff of a loop while the database is away: 1 s, 2 s, 4 s, 8 s, then every 10 s. */
export const OUTAGE_BACKOFF_MIN_MS = 1_000;
export const OUTAGE_BACKOFF_MAX_MS = 10_000;

/**
 * One loop's view of a database outage: said once when it starts (warn) and once when it ends
 * (info), not once per failed query, and the pause before the next try (1 s doubling to 10 s;
 * a loop that retried once a minute took ~50 s to notice the database was back). Errors that
 * are not an outage are logged each time, as errors: they are bugs, not weather.
 */
export class StorageOutage {
  readonly #logger: OutageLogger;
  readonly #what: string;
  readonly #now: () => number;
  #since: number | undefined;
  #failures = 0;

  constructor(logger: OutageLogger, what: string, now: () => number = Date.now) {
    this.#logger = logger;
    this.#what = what;
    this.#now = now;
  }

  /** True while the last try failed because the database was away. */
  get down(): boolean {
    return this.#since !== undefined;
  }

  /** A try failed: logs it (an outage once) and returns how long to wait before the next. */
  failed(error: unknown): number {
    this.#failures++;
    if (!isStorageUnavailable(error)) {
      const log = this.#logger.error?.bind(this.#logger) ?? this.#logger.warn.bind(this.#logger);
      log({ err: error }, `${this.#what} failed; will retry`);
    } else if (this.#since === undefined) {
      this.#since = this.#now();
      this.#logger.warn(
        { err: error },
        `${this.#what}: the database is unavailable; retrying until it is back`,
      );
    }
    return Math.min(OUTAGE_BACKOFF_MAX_MS, OUTAGE_BACKOFF_MIN_MS * 2 ** (this.#failures - 1));
  }

  /** A try worked: ends an outage (said once, with how long it lasted). */
  succeeded(): void {
    this.#failures = 0;
    if (this.#since === undefined) return;
    const seconds = Math.round((this.#now() - this.#since) / 1000);
    this.#since = undefined;
    this.#logger.info({ seconds }, `${this.#what}: the database is back`);
  }
}
