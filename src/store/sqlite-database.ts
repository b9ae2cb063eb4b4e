// Kysely's SQLite dialect expects a better-sqlite3 shaped database. Node 24 ships
// `node:sqlite`, which needs no native build; this file is the small bridge between the two.

import path from 'node:path';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import type { SqliteDatabase, SqliteStatement } from 'kysely';
import {
  ensurePrivateDir,
  ensurePrivateFile,
  type PermissionWarning,
  tightenFile,
} from './private-files.ts';

/** Prepared statements are reused: preparing costs more than running a small query. */
const STATEMENT_CACHE_SIZE = 256;

export interface SqliteOptions {
  /** Path of the database file, or ':memory:'. */
  location: string;
  /** How long a writer waits for another process's lock before failing. */
  busyTimeoutMs?: number;
  /** Told when an existing directory or file was open to group or others. */
  warn?: PermissionWarning;
  /** Open an existing file read-only, changing nothing (not even file modes). */
  readOnly?: boolean;
}

/** The files SQLite keeps next to the database: WAL, its shared memory, rollback journal. */
const COMPANION_SUFFIXES = ['-wal', '-shm', '-journal'] as const;

/**
 * The database file is made 0600 before SQLite opens it, in a 0700 directory. SQLite itself
 * makes a new database file 0644 less the umask (SQLITE_DEFAULT_FILE_PERMISSIONS), and
 * creates its WAL, -shm and journal lazily with the mode of the database file (it copies
 * that mode and fchmods each new one). Checked with node:sqlite (SQLite 3.53): under umask
 * 000 and 022 alike, a file SQLite made was 0644 with a 0644 WAL and -shm; a file made
 * 0600 first got a 0600 WAL and -shm. So no process.umask() around the open is needed (it
 * is process-wide, and would race with everything else the process does meanwhile).
 * Companion files left by an earlier run are tightened too: SQLite reuses them as they are.
 */
function preparePrivateFiles(location: string, warn: PermissionWarning | undefined): void {
  if (location === ':memory:' || location === '' || location.startsWith('file:')) return;
  ensurePrivateDir(path.dirname(location), warn);
  ensurePrivateFile(location, warn);
  for (const suffix of COMPANION_SUFFIXES) tightenFile(`${location}${suffix}`, warn);
}

/** Opens the file with the settings the service relies on: WAL, durable commits, foreign keys. */
export function openSqlite(options: SqliteOptions): { kysely: SqliteDatabase; raw: DatabaseSync } {
  if (options.readOnly === true) {
    // Fails when the file does not exist: nothing is created.
    const raw = new DatabaseSync(options.location, {
      readOnly: true,
      timeout: options.busyTimeoutMs ?? 5000,
    });
    return { kysely: bridge(raw), raw };
  }
  preparePrivateFiles(options.location, options.warn);
  const raw = new DatabaseSync(options.location, { timeout: options.busyTimeoutMs ?? 5000 });
  raw.exec('PRAGMA journal_mode = WAL');
  // FULL: a commit is on disk before it returns, so a 202 is never answered for data a power
  // loss could take back. (NORMAL in WAL mode may lose the last commits.)
  raw.exec('PRAGMA synchronous = FULL');
  raw.exec('PRAGMA foreign_keys = ON');
  // Statement journals (the undo of a savepoint, e.g. each write of the API's group commit)
  // in memory, not in a temporary file: measured end to end, 22 KB of file writes per
  // accepted message less; CPU unchanged within the bench's noise.
  raw.exec('PRAGMA temp_store = MEMORY');
  return { kysely: bridge(raw), raw };
}

function bridge(raw: DatabaseSync): SqliteDatabase {
  const cache = new Map<string, SqliteStatement>();
  return {
    close: () => {
      cache.clear();
      raw.close();
    },
    prepare: (sql: string): SqliteStatement => {
      // After SQLITE_FULL or SQLITE_IOERR, SQLite may already have rolled the transaction
      // back; Kysely's ROLLBACK then failed with "cannot rollback - no transaction is
      // active", which replaced the real error (a full disk answered 500, not 503).
      if (sql === 'rollback') return rollbackIfActive(raw);
      const cached = cache.get(sql);
      if (cached !== undefined) {
        // Refresh its place so the least recently used statement is dropped first.
        cache.delete(sql);
        cache.set(sql, cached);
        return cached;
      }
      const statement = wrap(raw.prepare(sql));
      cache.set(sql, statement);
      if (cache.size > STATEMENT_CACHE_SIZE) {
        const oldest = cache.keys().next().value;
        if (oldest !== undefined) cache.delete(oldest);
      }
      return statement;
    },
  };
}

const NOTHING_CHANGED = { changes: 0, lastInsertRowid: 0 };

/** ROLLBACK, only when a transaction is open (see prepare). */
function rollbackIfActive(raw: DatabaseSync): SqliteStatement {
  const run = () => {
    if (!raw.isTransaction) return NOTHING_CHANGED;
    return raw.prepare('rollback').run();
  };
  return {
    reader: false,
    all: () => {
      run();
      return [];
    },
    run,
    iterate: () => {
      run();
      return [][Symbol.iterator]();
    },
  };
}

function wrap(statement: StatementSync): SqliteStatement {
  const reader = statement.columns().length > 0;
  return {
    reader,
    all: (parameters) => statement.all(...toSqlite(parameters)),
    run: (parameters) => statement.run(...toSqlite(parameters)),
    iterate: (parameters) => statement.iterate(...toSqlite(parameters)),
  };
}

/** node:sqlite binds no booleans; store them as 0/1 like SQLite itself does. */
function toSqlite(parameters: ReadonlyArray<unknown>): SQLInputValue[] {
  return parameters.map((p) => {
    if (typeof p === 'boolean') return p ? 1 : 0;
    if (p === undefined) return null;
    return p as SQLInputValue;
  });
}
