// The database as the doctor sees it, opened read-only (SQLite read-only, PostgreSQL in
// read-only transactions): can it be reached, is its schema the one this version expects,
// and does the master key open it. And the clock: leases, retries, quotas and certificate
// checks all read it, so it must be sane, agree with the database server's (PostgreSQL,
// shared by several machines), and not lie behind times the service already recorded.

import { existsSync } from 'node:fs';
import type { Config } from '../config.ts';
import { masterKeyState, readMasterKey } from '../secrets/master-key.ts';
import { openStore, type Store } from '../store/database.ts';
import { newestRecordedTime } from '../store/deployment.repository.ts';
import { migrationStatus } from '../store/migrations.ts';
import { type Finding, fail, info, ok, warn } from './finding.ts';

/** No correct clock is earlier than the first release of this code. */
const EARLIEST_SANE_TIME = Date.UTC(2025, 0, 1);
/** Clock differences a lease (SECUREMAIL_LEASE_SECONDS) and a retry absorb without notice. */
const SKEW_WARN_MS = 2000;
const SKEW_FAIL_MS = 30_000;
/** Recorded times ahead of our clock by more than this: the clock went back. */
const AHEAD_FAIL_MS = 60_000;

export interface DatabaseFindings {
  findings: Finding[];
  /** The store, open when reachable, for the clock check; the caller closes it. */
  store: Store | undefined;
}

export async function checkDatabase(
  config: Pick<Config, 'databaseUrl' | 'sqlitePath' | 'masterKey' | 'dataDir'>,
): Promise<DatabaseFindings> {
  const check = 'database';
  if (config.databaseUrl === undefined && !existsSync(config.sqlitePath)) {
    return {
      findings: [
        info(
          check,
          `no database yet at ${config.sqlitePath}; \`securemail migrate\` or the first start makes it`,
        ),
      ],
      store: undefined,
    };
  }
  let store: Store;
  try {
    store = openStore({
      databaseUrl: config.databaseUrl,
      sqlitePath: config.sqlitePath,
      readOnly: true,
      poolSize: 2,
    });
  } catch (error) {
    return {
      findings: [
        fail(
          check,
          `cannot open the database: ${(error as Error).message}`,
          'check DATABASE_URL or SECUREMAIL_DATA_DIR',
        ),
      ],
      store: undefined,
    };
  }
  if (!(await store.ping())) {
    await store.close();
    return {
      findings: [
        fail(
          check,
          `the database does not answer (${store.description})`,
          config.databaseUrl === undefined
            ? 'check the file and the data directory'
            : 'check that PostgreSQL runs and DATABASE_URL (host, port, user, password, database)',
        ),
      ],
      store: undefined,
    };
  }
  const findings: Finding[] = [];
  const status = await migrationStatus(store.db, store.schema);
  if (status.unknown.length > 0) {
    findings.push(
      fail(
        check,
        `${store.description} was migrated by a newer version (${status.unknown.join(', ')} unknown here)`,
        'run the newer version everywhere; never run an older one against this database',
      ),
    );
  } else if (status.pending.length > 0) {
    findings.push(
      warn(
        check,
        `${store.description}: ${status.pending.length} migration(s) to run (${status.pending.join(', ')})`,
        '`securemail migrate` (or the next start) runs them; stop older processes first',
      ),
    );
  } else {
    findings.push(
      ok(check, `${store.description}: schema up to date (${status.applied.length} migrations)`),
    );
  }
  findings.push(await checkKeyMatches(store, config));
  return { findings, store };
}

async function checkKeyMatches(
  store: Store,
  config: Pick<Config, 'masterKey' | 'dataDir'>,
): Promise<Finding> {
  const check = 'master-key';
  let key: Buffer | undefined;
  try {
    key = readMasterKey(config.masterKey, config.dataDir)?.key;
  } catch {
    key = undefined; // reported by the file check
  }
  if (key === undefined) return info(check, 'no master key to compare with the database');
  let state: Awaited<ReturnType<typeof masterKeyState>>;
  try {
    state = await masterKeyState(store, key);
  } catch {
    return info(check, 'the database has no settings table yet');
  }
  if (state === 'matches')
    return ok(check, 'the master key is the one the database was set up with');
  if (state === 'not-recorded')
    return info(check, 'the database has not recorded a master key yet (the first start does)');
  return fail(
    check,
    'the master key is NOT the one the database was set up with: the service refuses to start',
    'give every process the SECUREMAIL_MASTER_KEY (or master.key) the database was set up with',
  );
}

export async function checkClock(store: Store | undefined, now: number): Promise<Finding[]> {
  const check = 'clock';
  const shown = new Date(now).toISOString();
  if (now < EARLIEST_SANE_TIME) {
    return [
      fail(
        check,
        `this machine's clock says ${shown}`,
        'set the clock and keep it synchronised (NTP: chrony or systemd-timesyncd)',
      ),
    ];
  }
  const findings: Finding[] = [];
  const server = await store?.serverTime().catch(() => undefined);
  if (server !== undefined) {
    const skew = now - server;
    const text = `this machine's clock is ${Math.abs(skew)} ms ${skew >= 0 ? 'ahead of' : 'behind'} the database server's`;
    const fix =
      'synchronise both with NTP (chrony or systemd-timesyncd); leases and retries assume one time';
    if (Math.abs(skew) > SKEW_FAIL_MS) findings.push(fail(check, text, fix));
    else if (Math.abs(skew) > SKEW_WARN_MS) findings.push(warn(check, text, fix));
    else findings.push(ok(check, `${shown}; ${text}`));
  }
  const newest = store === undefined ? null : await newestRecordedTime(store.db).catch(() => null);
  if (newest !== null && newest - now > AHEAD_FAIL_MS) {
    findings.push(
      fail(
        check,
        `the database holds times up to ${new Date(newest).toISOString()}, ${Math.round((newest - now) / 1000)} s ahead of this clock (${shown}): the clock went back, or another machine's is ahead`,
        'synchronise the clocks of every machine with NTP before starting',
      ),
    );
  } else if (server === undefined) {
    findings.push(
      ok(
        check,
        newest === null
          ? `${shown} (nothing to compare it with: keep it synchronised with NTP)`
          : `${shown}; no time recorded in the database is ahead of it`,
      ),
    );
  }
  return findings;
}
