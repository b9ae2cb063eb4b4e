// Files at rest that only the service's own user may read: the data directory (0700), the
// SQLite database with its WAL, shared-memory and journal files, and the master key (0600).
// Modes are set explicitly, so they hold under any umask: with a umask of 000 the directory
// was made 0777 and the database 0644 before.
//
// What already exists with bits for group or others (made by an older version, copied with
// cp, unpacked from a backup) is tightened: those bits are removed and a warning names the
// path and both modes. The warning is given when the change is made; the next start finds
// nothing to change, so it is said once. A directory that is not ours to tighten (another
// user's, or shared with the sticky bit like /tmp) is left as it is and only warned about:
// changing a shared directory's mode would break its other users, and the files we keep in
// it are 0600 all the same.

import {
  chmodSync,
  closeSync,
  fchmodSync,
  mkdirSync,
  openSync,
  statSync,
  writeSync,
} from 'node:fs';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;
const GROUP_AND_OTHERS = 0o077;
const STICKY = 0o1000;

/** Told when a mode was (or could not be) tightened; the service logs it as a warning. */
export type PermissionWarning = (details: { path: string; mode: string }, message: string) => void;

const octal = (mode: number) => (mode & 0o7777).toString(8);

/** POSIX permission bits mean little on Windows (only the read-only flag); nothing to do there. */
const POSIX = process.platform !== 'win32';

/** Creates `dir` (and missing parents) 0700, or tightens an existing one that is ours. */
export function ensurePrivateDir(dir: string, warn?: PermissionWarning): void {
  // mkdir applies the mode, less the umask, to every directory it creates: never wider.
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (!POSIX) return;
  const stat = statSync(dir);
  if ((stat.mode & GROUP_AND_OTHERS) === 0) return;
  const mine = stat.uid === process.getuid?.();
  if ((stat.mode & STICKY) !== 0 || !mine) {
    warn?.(
      { path: dir, mode: octal(stat.mode) },
      `the data directory is shared with group or others (${(stat.mode & STICKY) !== 0 ? 'sticky, like /tmp' : 'owned by another user'}) ` +
        'and was left as it is; the files in it are 0600, but give the service a private directory',
    );
    return;
  }
  tighten(dir, stat.mode, warn, 'the data directory');
}

/**
 * Creates `file` empty with mode 0600 when it does not exist; tightens it when it exists
 * with bits for group or others. SQLite then opens a file that is already private.
 */
export function ensurePrivateFile(file: string, warn?: PermissionWarning): void {
  let fd: number;
  try {
    fd = openSync(file, 'wx', PRIVATE_FILE_MODE);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    tightenFile(file, warn);
    return;
  }
  try {
    // Exactly 0600: a umask such as 0277 would otherwise leave the owner unable to write.
    if (POSIX) fchmodSync(fd, PRIVATE_FILE_MODE);
  } finally {
    closeSync(fd);
  }
}

/** Writes a new file with mode 0600; fails when it exists (another process wrote it first). */
export function writePrivateFile(file: string, content: string): void {
  const fd = openSync(file, 'wx', PRIVATE_FILE_MODE);
  try {
    if (POSIX) fchmodSync(fd, PRIVATE_FILE_MODE);
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
}

/** Removes group and other bits from `file` if it exists and has any. */
export function tightenFile(file: string, warn?: PermissionWarning): void {
  if (!POSIX) return;
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if ((mode & GROUP_AND_OTHERS) !== 0) tighten(file, mode, warn, file);
}

function tighten(
  target: string,
  mode: number,
  warn: PermissionWarning | undefined,
  what: string,
): void {
  const tightened = mode & 0o7700;
  try {
    chmodSync(target, tightened);
  } catch (error) {
    warn?.(
      { path: target, mode: octal(mode) },
      `${what} is readable by group or others and could not be tightened (${(error as Error).message}); make it ${octal(tightened)}`,
    );
    return;
  }
  warn?.(
    { path: target, mode: octal(mode) },
    `${what} was open to group or others (mode ${octal(mode)}); tightened to ${octal(tightened)}`,
  );
}
