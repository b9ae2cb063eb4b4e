// The schema, as migrations that run unchanged on SQLite and PostgreSQL. They run at
// start-up and through `securemail migrate`. Never edit a migration that has shipped: add one.

import type { Kysely } from 'kysely';
import { type Migration, type MigrationProvider, Migrator } from 'kysely/migration';

// Migrations build tables through Kysely's schema builder, which is typed against no
// particular database; `unknown` keeps the row types out of it on purpose.
type AnyDb = Kysely<unknown>;

const migrations: Record<string, Migration> = {
  '0001_foundation': {
    async up(db: AnyDb) {
      await db.schema
        .createTable('clients')
        .addColumn('client_id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('secret_hash', 'text', (c) => c.notNull())
        .addColumn('quota_limit', 'integer')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('secret_rotated_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('access_tokens')
        .addColumn('token_hash', 'text', (c) => c.primaryKey())
        .addColumn('client_id', 'text', (c) =>
          c.notNull().references('clients.client_id').onDelete('cascade'),
        )
        .addColumn('issued_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('access_tokens_client')
        .on('access_tokens')
        .column('client_id')
        .execute();

      await db.schema
        .createTable('quota_usage')
        .addColumn('client_id', 'text', (c) =>
          c.notNull().references('clients.client_id').onDelete('cascade'),
        )
        .addColumn('window_start', 'bigint', (c) => c.notNull())
        .addColumn('used', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('quota_usage_pk', ['client_id', 'window_start'])
        .execute();

      await db.schema
        .createTable('accounts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('client_id', 'text', (c) =>
          c.notNull().references('clients.client_id').onDelete('cascade'),
        )
        .addColumn('domain', 'text', (c) => c.notNull())
        .addColumn('notification_email', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('bounce_subdomain', 'text', (c) => c.notNull())
        .addColumn('policy_level', 'text', (c) => c.notNull())
        .addColumn('ownership_token', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        // One account per domain per tenant. Two tenants may both claim a domain: only the
        // one who proves ownership in DNS can send, so nobody can squat a domain.
        .addUniqueConstraint('accounts_client_domain', ['client_id', 'domain'])
        .execute();
      await db.schema.createIndex('accounts_domain').on('accounts').column('domain').execute();

      await db.schema
        .createTable('settings')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('mta_sts_policies')
        .addColumn('domain', 'text', (c) => c.primaryKey())
        .addColumn('policy_id', 'text', (c) => c.notNull())
        .addColumn('policy_json', 'text', (c) => c.notNull())
        .addColumn('fetched_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
};

const provider: MigrationProvider = {
  getMigrations: async () => migrations,
};

export interface MigrationOutcome {
  applied: string[];
}

/** Brings the schema up to date. Safe to run from several processes at once (Kysely locks). */
export async function migrateToLatest<T>(db: Kysely<T>): Promise<MigrationOutcome> {
  const migrator = new Migrator({ db: db as unknown as AnyDb, provider });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`database migration ${failed} failed: ${String(error)}`, { cause: error });
  }
  return {
    applied: (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName),
  };
}
