// The master key encrypts what must be secret at rest (DKIM private keys, webhook secrets,
// message bodies and subjects, account notices, kept bounces: see sealed-content.ts).
// It comes from SECUREMAIL_MASTER_KEY, or from `<dataDir>/master.key`, which the first start
// creates. A check value in the database makes a process with the wrong key stop at once,
// instead of failing later on every decryption.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Store } from '../store/database.ts';
import {
  ensurePrivateDir,
  type PermissionWarning,
  tightenFile,
  writePrivateFile,
} from '../store/private-files.ts';
import { getSetting, putSettingIfAbsent } from '../store/settings.repository.ts';
import { parseMasterKey } from './settings.ts';

export const MASTER_KEY_FILE = 'master.key';
const CHECK_SETTING = 'master_key_check';

export interface LoadedKey {
  key: Buffer;
  /** Where the key came from, for the start-up log. */
  source: 'environment' | 'file' | 'generated';
  file?: string;
}

export function loadMasterKey(
  configured: string | undefined,
  dataDir: string,
  /** Told when the data directory or the key file was open to group or others. */
  warn?: PermissionWarning,
): LoadedKey {
  if (configured !== undefined)
    return { key: parseMasterKey(configured, 'SECUREMAIL_MASTER_KEY'), source: 'environment' };
  // The directory 0700 and the key 0600 whatever the umask (private-files.ts).
  ensurePrivateDir(dataDir, warn);
  const file = path.join(dataDir, MASTER_KEY_FILE);
  if (existsSync(file)) {
    tightenFile(file, warn);
    return { key: parseMasterKey(readFileSync(file, 'utf8'), file), source: 'file', file };
  }
  const key = randomBytes(32);
  // Exclusive: never overwrite a key another process wrote in the meantime.
  writePrivateFile(file, `${key.toString('base64')}\n`);
  return { key, source: 'generated', file };
}

/**
 * The master key as the service would load it, without making or changing anything
 * (`securemail doctor`): from SECUREMAIL_MASTER_KEY, or from `<dataDir>/master.key` when
 * that exists; `undefined` when neither (the first start generates one). A file that does
 * not hold a key throws a ConfigError naming it.
 */
export function readMasterKey(
  configured: string | undefined,
  dataDir: string,
): LoadedKey | undefined {
  if (configured !== undefined)
    return { key: parseMasterKey(configured, 'SECUREMAIL_MASTER_KEY'), source: 'environment' };
  const file = path.join(dataDir, MASTER_KEY_FILE);
  if (!existsSync(file)) return undefined;
  return { key: parseMasterKey(readFileSync(file, 'utf8'), file), source: 'file', file };
}

/** Whether `key` is the one the database was set up with; read-only. */
export async function masterKeyState(
  store: Pick<Store, 'db'>,
  key: Buffer,
): Promise<'matches' | 'differs' | 'not-recorded'> {
  const stored = await getSetting(store.db, CHECK_SETTING);
  if (stored === undefined) return 'not-recorded';
  const a = Buffer.from(stored, 'utf8');
  const b = Buffer.from(checkValue(key), 'utf8');
  return a.length === b.length && timingSafeEqual(a, b) ? 'matches' : 'differs';
}

function checkValue(key: Buffer): string {
  return createHmac('sha256', key).update('securemail master key check v1').digest('base64');
}

/** Records the key's check value on first use; throws when the database belongs to another key. */
export async function assertMasterKeyMatches(store: Pick<Store, 'db'>, key: Buffer): Promise<void> {
  const mine = checkValue(key);
  await putSettingIfAbsent(store.db, CHECK_SETTING, mine);
  const stored = await getSetting(store.db, CHECK_SETTING);
  const a = Buffer.from(stored ?? '', 'utf8');
  const b = Buffer.from(mine, 'utf8');
  if (a.length !== b.length || !timingSafeEqual(a, b)) {
    throw new Error(
      'the master key does not match the one this database was set up with; ' +
        'give every process the same SECUREMAIL_MASTER_KEY',
    );
  }
}
