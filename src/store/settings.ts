// The store's settings: which database, and where the embedded one lives.

import path from 'node:path';
import { ConfigError, custom, type Env, readSettings, type SettingContext } from '../settings.ts';

export const STORE_SETTINGS = {
  databaseUrl: custom('DATABASE_URL', {
    doc: '`postgres://...` to use PostgreSQL',
    shownDefault: 'unset',
    parse: (text) => {
      if (text !== undefined && !/^postgres(ql)?:\/\//.test(text)) {
        throw new ConfigError('DATABASE_URL', 'must be a postgres:// or postgresql:// URL');
      }
      return text;
    },
  }),
  dataDir: custom('SECUREMAIL_DATA_DIR', {
    doc: 'Where the SQLite file',
    shownDefault: '`./data`',
    parse: (text, context) => path.resolve(context.cwd, text ?? 'data'),
  }),
};

export interface StoreSettings {
  /** PostgreSQL connection string; undefined means the embedded SQLite database. */
  databaseUrl: string | undefined;
  dataDir: string;
  /** The SQLite file, inside `dataDir`. */
  sqlitePath: string;
}

export function readStoreSettings(
  env: Env,
  context: Omit<SettingContext, 'earlier'>,
): StoreSettings {
  const { databaseUrl, dataDir } = readSettings(STORE_SETTINGS, env, context);
  return { databaseUrl, dataDir, sqlitePath: path.join(dataDir, 'securemail.db') };
}
