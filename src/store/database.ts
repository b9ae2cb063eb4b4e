// Opens the database the configuration names: PostgreSQL when a URL is given, the embedded
// SQLite file otherwise. Dialect differences are answered here, as capability flags; the
// rest of the code asks for a capability, never "is this PostgreSQL?".

import { Kysely, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import { StorePostgresDialect } from './postgres-introspection.ts';
import type { PermissionWarning } from './private-files.ts';
import type { Database } from './schema.ts';
import { openSqlite } from './sqlite-database.ts';

export type Dialect = 'sqlite' | 'postgres';

/**
 * A handle on the database, or on a transaction: what every repository function takes. Code
 * outside src/store passes it on and never builds a query with it.
 */
export type Db = Kysely<Database>;

/**
 * Runs `work` in one transaction on `db` and resolves once it is committed (rolled back when
 * `work` throws). Code outside the store starts transactions here, never on the handle.
 */
export function inTransaction<T>(db: Db, work: (trx: Db) => Promise<T>): Promise<T> {
  return db.transaction().execute(work);
}

export interface Capabilities {
  /** `SELECT ... FOR UPDATE SKIP LOCKED` works, so several workers can claim rows safely. */
  skipLocked: boolean;
  /** Several processes may write at once (PostgreSQL); SQLite allows one writer process. */
  multipleWriters: boolean;
  /**
   * INSERT inside WITH (data-modifying CTEs), so several inserts are one atomic statement
   * without BEGIN and COMMIT (PostgreSQL; SQLite allows only SELECT there).
   */
  writableCtes: boolean;
}

export interface Store {
  db: Kysely<Database>;
  dialect: Dialect;
  capabilities: Capabilities;
  /** Where the data lives, for logs (no password). */
  description: string;
  /** The PostgreSQL schema in use when not the default (tests). */
  schema: string | undefined;
  /** True when the database answers a trivial query. */
  ping(): Promise<boolean>;
  /**
   * The database server's clock (epoch ms) where it is another machine's (PostgreSQL), to
   * compare with this one; undefined for SQLite, which runs on this process's clock.
   */
  serverTime(): Promise<number | undefined>;
  close(): Promise<void>;
}

export interface StoreOptions {
  /** postgres:// URL; when absent, SQLite at `sqlitePath`. */
  databaseUrl?: string | undefined;
  sqlitePath?: string;
  /** PostgreSQL schema to work in (created when missing); tests use one per test file. */
  pgSchema?: string;
  /** Largest number of PostgreSQL connections of this process. */
  poolSize?: number;
  /** Told when the SQLite directory or files were open to group or others (private-files.ts). */
  warn?: PermissionWarning;
  /**
   * Look, never touch (`securemail doctor`): SQLite opens an existing file read-only and
   * leaves file modes alone; PostgreSQL sessions are read-only transactions.
   */
  readOnly?: boolean;
  /**
   * Told when a PostgreSQL connection fails outside a query (the server restarted, the
   * network dropped): the connection is discarded and the next query opens another.
   */
  onConnectionError?: (error: Error) => void;
}

const INT8_OID = 20;
/**
 * How long a query waits for a new PostgreSQL connection: a database that is away fails a
 * request in 10 s (503) instead of leaving it hanging until the client gives up.
 */
const CONNECT_TIMEOUT_MS = 10_000;

export function openStore(options: StoreOptions): Store {
  if (options.databaseUrl !== undefined) return openPostgres(options.databaseUrl, options);
  const location = options.sqlitePath ?? ':memory:';
  // The directory (0700) and the files (0600) are made private before SQLite opens them.
  const { kysely } = openSqlite({
    location,
    ...(options.warn === undefined ? {} : { warn: options.warn }),
    ...(options.readOnly === true ? { readOnly: true } : {}),
  });
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: kysely }) });
  return finish(
    db,
    'sqlite',
    { skipLocked: false, multipleWriters: false, writableCtes: false },
    `sqlite:${location}`,
    undefined,
  );
}

function openPostgres(url: string, options: StoreOptions): Store {
  const schema = options.pgSchema;
  if (schema !== undefined && !/^[a-z_][a-z0-9_]*$/.test(schema)) {
    throw new Error(`invalid PostgreSQL schema name "${schema}"`);
  }
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    // Times are stored as bigint milliseconds; they fit in a JS number for 285,000 years.
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID
          ? (v: string) => Number.parseInt(v, 10)
          : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    // A server that vanished without closing the connection (a lost machine) is noticed.
    keepAlive: true,
    ...(sessionOptions(schema, options.readOnly === true) ?? {}),
  });
  // An 'error' event without a listener ends the process. pg-pool listens on idle clients
  // and re-emits on the pool; a client a transaction holds between two queries has no
  // listener of pg-pool's, and the server restarting at that moment would kill us.
  const connectionError = (error: Error) => options.onConnectionError?.(error);
  pool.on('error', connectionError);
  pool.on('connect', (client) => client.on('error', connectionError));
  const db = new Kysely<Database>({
    dialect: new StorePostgresDialect({
      pool,
      onCreateConnection: async (connection) => {
        // A read-only session cannot make it; it looks only at what exists.
        if (schema !== undefined && options.readOnly !== true) {
          await connection.executeQuery(
            sql`create schema if not exists ${sql.id(schema)}`.compile(db),
          );
        }
      },
    }),
  });
  const where = new URL(url);
  where.password = '';
  return finish(
    db,
    'postgres',
    { skipLocked: true, multipleWriters: true, writableCtes: true },
    `${where.toString()}${schema ? `#${schema}` : ''}`,
    schema,
  );
}

/** libpq `options`: the schema to work in, and read-only transactions when asked for. */
function sessionOptions(
  schema: string | undefined,
  readOnly: boolean,
): { options: string } | undefined {
  const parts = [
    ...(schema === undefined ? [] : [`-c search_path=${schema}`]),
    ...(readOnly ? ['-c default_transaction_read_only=on'] : []),
  ];
  return parts.length === 0 ? undefined : { options: parts.join(' ') };
}

function finish(
  db: Kysely<Database>,
  dialect: Dialect,
  capabilities: Capabilities,
  description: string,
  schema: string | undefined,
): Store {
  return {
    db,
    dialect,
    capabilities,
    description,
    schema,
    async ping() {
      try {
        await sql`select 1`.execute(db);
        return true;
      } catch {
        return false;
      }
    },
    async serverTime() {
      if (dialect === 'sqlite') return undefined;
      const { rows } = await sql<{
        ms: string | number;
      }>`select floor(extract(epoch from clock_timestamp()) * 1000) as ms`.execute(db);
      return Number(rows[0]?.ms);
    },
    close: () => db.destroy(),
  };
}
