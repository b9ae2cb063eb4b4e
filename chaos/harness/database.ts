// The databases a fault runs on. SQLite: the service's own file (securemail.db) under a data
// directory of the work dir. PostgreSQL: a database of its own on the shared server (the
// service has no schema setting), dropped afterwards; or, for faults that stop PostgreSQL
// itself, a private cluster: initdb into the work dir, a free port, started and stopped with
// pg_ctl as the postgres user (PostgreSQL refuses to run as root), removed afterwards.

import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { openStore, type Store } from '../../src/store/database.ts';
import { onCleanup } from './cleanup.ts';
import { freePort } from './service.ts';

const run = promisify(execFile);
const PG_BIN = '/usr/lib/postgresql/15/bin';
const PG_CTL_DEADLINE_MS = 60_000;

export interface ChaosDb {
  name: 'sqlite' | 'postgres';
  /** SECUREMAIL_DATA_DIR, and DATABASE_URL for PostgreSQL. */
  env: Record<string, string>;
  /** The SQLite file; undefined on PostgreSQL. */
  sqliteFile: string | undefined;
  /** A store of the runner's own on the same database, for the ledger. */
  open(): Store;
  close(): Promise<void>;
}

export function sqliteDb(dataDir: string): ChaosDb {
  mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, 'securemail.db');
  return {
    name: 'sqlite',
    env: { SECUREMAIL_DATA_DIR: dataDir },
    sqliteFile: file,
    open: () => openStore({ sqlitePath: file }),
    close: async () => {},
  };
}

/** A fresh database on a running server (`serverUrl` names any database of it). */
export async function postgresDb(serverUrl: string, dataDir: string): Promise<ChaosDb> {
  mkdirSync(dataDir, { recursive: true });
  const database = `securemail_chaos_${randomBytes(5).toString('hex')}`;
  await admin(serverUrl, `create database ${database}`);
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  const drop = onCleanup(`database ${database}`, {
    // FORCE: a killed process's connections may not have timed out yet.
    async: () => admin(serverUrl, `drop database if exists ${database} with (force)`),
  });
  return {
    name: 'postgres',
    env: { SECUREMAIL_DATA_DIR: dataDir, DATABASE_URL: url.toString() },
    sqliteFile: undefined,
    open: () => openStore({ databaseUrl: url.toString(), poolSize: 2 }),
    close: drop,
  };
}

async function admin(serverUrl: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl, connectionTimeoutMillis: 10_000 });
  client.on('error', () => {});
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

export type StopMode = 'fast' | 'immediate';

export interface PrivateCluster {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  url: string;
  port: number;
  stop(mode: StopMode): Promise<void>;
  start(): Promise<void>;
  /** Stops it for good and forgets it (the files go with the work dir). */
  destroy(): Promise<void>;
}

function asPostgres(args: string[]): [string, string[]] {
  return ['runuser', ['-u', 'postgres', '--', ...args]];
}

/** initdb into `dir` (made here, owned by postgres) and start it on a free port. */
export async function startPrivateCluster(dir: string): Promise<PrivateCluster> {
  if (!existsSync(path.join(PG_BIN, 'initdb'))) throw new Error(`no initdb in ${PG_BIN}`);
  mkdirSync(dir, { recursive: true });
  // The postgres user must reach the directory through the work dir (mkdtemp makes it 0700).
  chmodSync(path.dirname(dir), 0o755);
  const { uid, gid } = postgresIds();
  chownSync(dir, uid, gid);
  chmodSync(dir, 0o700);
  const data = path.join(dir, 'data');
  const port = await freePort();
  const [cmd, initArgs] = asPostgres([
    path.join(PG_BIN, 'initdb'),
    '-D',
    data,
    '-U',
    'postgres',
    '-A',
    'trust',
    '--no-sync',
    '--no-instructions',
  ]);
  await run(cmd, initArgs, { timeout: PG_CTL_DEADLINE_MS });
  /** pg_ctl on this cluster, as the postgres user: the command and its arguments. */
  const pgCtlCommand = (args: string[]) =>
    asPostgres([path.join(PG_BIN, 'pg_ctl'), '-D', data, ...args]);
  const pgCtl = (args: string[]) => {
    const [c, a] = pgCtlCommand(args);
    return run(c, a, { timeout: PG_CTL_DEADLINE_MS });
  };
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=100`;
  const start = async () => {
    await pgCtl(['-l', path.join(dir, 'postgres.log'), '-o', options, '-w', '-t', '50', 'start']);
  };
  await start();
  const forget = onCleanup(`PostgreSQL cluster in ${dir}`, {
    sync: () => {
      // Synchronous: this runs while the runner exits.
      const [c, a] = pgCtlCommand(['-m', 'immediate', '-w', 'stop']);
      try {
        execFileSync(c, a, { timeout: PG_CTL_DEADLINE_MS, stdio: 'ignore' });
      } catch {
        // not running
      }
    },
  });
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    stop: async (mode) => {
      await pgCtl(['-m', mode, '-w', '-t', '50', 'stop']);
    },
    start,
    destroy: forget,
  };
}

function postgresIds(): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}
