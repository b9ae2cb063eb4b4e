// PostgreSQL introspection that survives other schemas being dropped while it reads the
// catalog. Kysely's migrator finds its bookkeeping tables by listing the tables of every
// schema, and that query calls has_schema_privilege(name) per schema: when another schema is
// dropped in the middle of it, PostgreSQL fails the whole query with invalid_schema_name
// (3F000) naming that other schema. Seen in CI, where test files drop their schemas while
// other files migrate; it can happen in any database shared with other users. The query only
// reads, so it is simply asked again.

import {
  type DatabaseIntrospector,
  type DatabaseMetadataOptions,
  type Kysely,
  PostgresDialect,
  type SchemaMetadata,
  type TableMetadata,
} from 'kysely';

const INVALID_SCHEMA_NAME = '3F000';
/**
 * Each try is one catalog query. In a stress run against a database where a schema was
 * dropped every few milliseconds, one try in two failed and the longest run of failures was
 * 9 (243 tries for 40 migrations, none failed). Normal use sees a drop now and then.
 */
const MAX_TRIES = 20;
const PAUSE_MS = 10;

function schemaVanished(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { code?: unknown }).code === INVALID_SCHEMA_NAME
  );
}

async function retried<T>(read: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (error) {
      if (attempt >= MAX_TRIES || !schemaVanished(error)) throw error;
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
