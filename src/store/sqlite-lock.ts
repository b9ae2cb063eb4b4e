// One service process per SQLite database, enforced. A starting worker on SQLite takes back
// every claimed recipient at once (src/delivery/liveness.ts): right after a crash, because
// the process that held them is gone, but wrong while another process still delivers them.
// So `serve` holds an exclusive lock on a file beside the database for as long as it runs,
// and a second `serve` on the same file stops before it opens, migrates or takes back
// anything.
//
// The lock is SQLite's own file lock on `<database>.lock`, a small SQLite file kept in an
// exclusive transaction: the operating system drops it when the process ends in any way
// (SIGKILL, power loss of a container), so there is never a stale lock to clean up, and the
// same lock holds between connections of one process too (SQLite tracks its locks per file
// inside a process). The database itself stays open to readers (`securemail doctor`,
// backups, admin commands).

import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { ensurePrivateDir, ensurePrivateFile, type PermissionWarning } from './private-files.ts';

export class SqliteInUseError extends Error {
  readonly lockFile: string;

  constructor(database: string, lockFile: string) {
    super(
      `the SQLite database ${database} is in use by another SecureMail process (it holds ` +
        `${lockFile}). On SQLite one process serves every role: stop the other one first, ` +
        'or use PostgreSQL (SECUREMAIL_DATABASE_URL) to run several processes',
    );
    this.name = 'SqliteInUseError';
    this.lockFile = lockFile;
  }
}

export interface SqliteLock {
  readonly file: string;
  release(): void;
}

/** SQLITE_BUSY: another connection holds a lock that conflicts with ours. */
function isBusy(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { errcode, message } = error as { errcode?: unknown; message?: unknown };
  // The primary result code is the low byte of the extended one.
  if (typeof errcode === 'number') return (errcode & 0xff) === 5;
  return typeof message === 'string' && /database is locked/.test(message);
}

/**
 * Takes the lock of the SQLite database at `database`, or throws SqliteInUseError at once
 * (no waiting: a second process is a mistake to report, not a turn to wait for).
 */
export function lockSqliteDatabase(database: string, warn?: PermissionWarning): SqliteLock {
  const file = `${database}.lock`;
  ensurePrivateDir(path.dirname(file), warn);
  ensurePrivateFile(file, warn);
  const lock = new DatabaseSync(file, { timeout: 0 });
  try {
    // Rollback journal: an exclusive transaction holds the EXCLUSIVE lock on the file
    // itself (WAL mode would let readers in and keep its lock in shared memory instead).
    lock.exec('PRAGMA journal_mode = DELETE');
    lock.exec('PRAGMA locking_mode = EXCLUSIVE');
    lock.exec('BEGIN EXCLUSIVE');
  } catch (error) {
    lock.close();
    if (isBusy(error)) throw new SqliteInUseError(database, file);
    throw error;
  }
  let held = true;
  return {
    file,
    release: () => {
      if (!held) return;
      held = false;
      // Closing ends the transaction (rolled back: it wrote nothing) and drops the lock.
      lock.close();
    },
  };
}
