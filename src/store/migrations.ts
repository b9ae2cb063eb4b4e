// The schema, as migrations that run unchanged on SQLite and PostgreSQL. They run at
// start-up and through `securemail migrate`. Never edit a migration that has shipped: add one.

import { type Kysely, sql } from 'kysely';
import { type Migration, type MigrationProvider, Migrator } from 'kysely/migration';
import { inboundMigration } from './inbound.migration.ts';
import { inboundRawBytesMigration } from './inbound-raw-bytes.migration.ts';
import { messagesMigration } from './messages.migration.ts';
import { noticeDigestMigration } from './notices.migration.ts';
import { privacyMigration } from './privacy.migration.ts';
import { type ClearContentSealer, sealedContentMigration } from './sealed-content.migration.ts';
import { sessionEvidenceMigration } from './session-evidence.migration.ts';
import { workersMigration } from './workers.migration.ts';

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

  '0002_domain_onboarding': {
    async up(db: AnyDb) {
      await db.schema
        .createTable('dkim_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('account_id', 'text', (c) =>
          c.notNull().references('accounts.id').onDelete('cascade'),
        )
        .addColumn('selector', 'text', (c) => c.notNull())
        .addColumn('algorithm', 'text', (c) => c.notNull())
        .addColumn('public_key', 'text', (c) => c.notNull())
        .addColumn('private_key_sealed', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('activated_at', 'bigint')
        .addColumn('retired_at', 'bigint')
        .addUniqueConstraint('dkim_keys_account_selector', ['account_id', 'selector'])
        .execute();

      await db.schema
        .createTable('domain_checks')
        .addColumn('account_id', 'text', (c) =>
          c.primaryKey().references('accounts.id').onDelete('cascade'),
        )
        .addColumn('results', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('window_started_at', 'bigint', (c) => c.notNull())
        .addColumn('next_check_at', 'bigint', (c) => c.notNull())
        .addColumn('last_checked_at', 'bigint')
        .addColumn('last_outcome', 'text')
        .addColumn('last_valid_at', 'bigint')
        .execute();
      await db.schema
        .createIndex('domain_checks_due')
        .on('domain_checks')
        .column('next_check_at')
        .execute();
      // Accounts made before this migration get a schedule; their DKIM keys are made on
      // their first check (the master key is not available to migrations).
      await sql`insert into domain_checks (account_id, results, attempts, window_started_at, next_check_at)
        select id, '{}', 0, created_at, 0 from accounts`.execute(db);

      await db.schema
        .createTable('account_notifications')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('account_id', 'text', (c) =>
          c.notNull().references('accounts.id').onDelete('cascade'),
        )
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('recipient', 'text', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('sent_at', 'bigint')
        .execute();
      await db.schema
        .createIndex('account_notifications_unsent')
        .on('account_notifications')
        .column('sent_at')
        .execute();
    },
  },

  '0003_messages': messagesMigration,
  '0004_inbound': inboundMigration,
  '0005_session_evidence': sessionEvidenceMigration,
  '0006_inbound_raw_bytes': inboundRawBytesMigration,
  // '0007_sealed_content' is added by provider() below: it needs the sealer (master key).
};

/** Every migration; 0007 seals clear content with the sealer (the master key) when given. */
function provider(sealer: ClearContentSealer | undefined): MigrationProvider {
  return {
    getMigrations: async () => ({
      ...migrations,
      '0007_sealed_content': sealedContentMigration(sealer),
      '0008_notice_digest': noticeDigestMigration,
      '0009_privacy': privacyMigration,
      '0010_workers': workersMigration,
    }),
  };
}

export interface MigrationOutcome {
  applied: string[];
}

export interface MigrationOptions {
  /**
   * Seals what earlier versions stored in clear (migration 0007). Needed only when such
   * content exists; service.ts always gives it, tests and benchmarks of new databases not.
   */
  sealer?: ClearContentSealer;
  /** Stop after this migration (tests of a later migration's data step). */
  upTo?: string;
}

/** Brings the schema up to date. Safe to run from several processes at once (Kysely locks). */
export async function migrateToLatest<T>(
  db: Kysely<T>,
  /** The PostgreSQL schema the tables live in, when not the default one. */
  schema?: string,
  options: MigrationOptions = {},
): Promise<MigrationOutcome> {
  // Kysely looks for its bookkeeping tables in every schema unless told which one; with
  // several schemas in one database (tests) it would find another schema's tables.
  const migrator = new Migrator({
    db: db as unknown as AnyDb,
    provider: provider(options.sealer),
    ...(schema === undefined ? {} : { migrationTableSchema: schema }),
  });
  const { error, results } =
    options.upTo === undefined
      ? await migrator.migrateToLatest()
      : await migrator.migrateTo(options.upTo);
  if (error !== undefined) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`database migration ${failed} failed: ${String(error)}`, { cause: error });
  }
  return {
    applied: (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName),
  };
}

export interface MigrationStatus {
  applied: string[];
  /** Known to this version, not yet run on the database. */
  pending: string[];
  /** Run on the database, unknown to this version: a newer version migrated it. */
  unknown: string[];
}

/** Which migrations the database has had; reads only (`securemail doctor`). */
export async function migrationStatus<T>(db: Kysely<T>, schema?: string): Promise<MigrationStatus> {
  const migrator = new Migrator({
    db: db as unknown as AnyDb,
    provider: provider(undefined),
    ...(schema === undefined ? {} : { migrationTableSchema: schema }),
  });
  const known = await migrator.getMigrations();
  const applied = known.filter((m) => m.executedAt !== undefined).map((m) => m.name);
  const pending = known.filter((m) => m.executedAt === undefined).map((m) => m.name);
  let unknown: string[] = [];
  // Only a database with migrations has the table (search_path names the schema in tests).
  if (applied.length > 0) {
    const rows = await sql<{ name: string }>`select name from kysely_migration`.execute(
      db as unknown as AnyDb,
    );
    const names = new Set(known.map((m) => m.name));
    unknown = rows.rows.map((r) => r.name).filter((n) => !names.has(n));
  }
  return { applied, pending, unknown };
}
