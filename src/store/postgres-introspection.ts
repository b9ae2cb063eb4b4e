// PostgreSQL introspection that survives other schemas changing while it reads the catalog.
// Kysely's migrator finds its bookkeeping tables by listing the columns of every table of
// every schema, and that query calls functions that look names up again as it goes:
// has_schema_privilege(schema) and pg_get_serial_sequence(table, column). When another
// session drops a schema, a table or a column in the middle of it, PostgreSQL fails the whole
// query naming that other object: invalid_schema_name (3F000), undefined_table (42P01),
// undefined_column (42703), or an internal "cache lookup failed". All were seen in CI, where
// test files drop their schemas and run their migrations while other files migrate; any
// database shared with other users can do the same. The query only reads, so it is simply
// asked again.

import {
  type DatabaseIntrospector,
  type DatabaseMetadataOptions,
  type Kysely,
  PostgresDialect,
  type SchemaMetadata,
  type TableMetadata,
} from 'kysely';

/** SQLSTATEs that mean "something this query looked up was just dropped or renamed". */
const VANISHED = new Set(['3F000', '42P01', '42703']);
const INTERNAL_ERROR = 'XX000';
/**
 * Each try is one catalog query. In a stress run against a database where a schema was
 * dropped every few milliseconds, one try in two failed and the longest run of failures was
 * 9 (243 tries for 40 migrations, none failed). Normal use sees a drop now and then.
 */
const MAX_TRIES = 20;
const PAUSE_MS = 10;

function somethingVanished(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code !== 'string') return false;
  if (VANISHED.has(code)) return true;
  // The catalog caches were read between the object's drop and its commit.
  return (
    code === INTERNAL_ERROR && typeof message === 'string' && /cache lookup failed/.test(message)
  );
}

async function retried<T>(read: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (error) {
      if (attempt >= MAX_TRIES || !somethingVanished(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, PAUSE_MS * (0.5 + Math.random())));
    }
  }
}

class RetryingIntrospector implements DatabaseIntrospector {
  readonly #inner: DatabaseIntrospector;

  constructor(inner: DatabaseIntrospector) {
    this.#inner = inner;
  }

  getSchemas(): Promise<SchemaMetadata[]> {
    return retried(() => this.#inner.getSchemas());
  }

  getTables(options?: DatabaseMetadataOptions): Promise<TableMetadata[]> {
    return retried(() => this.#inner.getTables(options));
  }
}

/** Kysely's PostgreSQL dialect with the introspection above. */
export class StorePostgresDialect extends PostgresDialect {
  // biome-ignore lint/suspicious/noExplicitAny: the signature Kysely's Dialect interface declares
  override createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new RetryingIntrospector(super.createIntrospector(db));
  }
}
