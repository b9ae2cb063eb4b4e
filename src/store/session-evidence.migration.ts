// Evidence shared by the attempts of one verified session: the recipient domain's assessment
// and the session's handshake (hosts, TLS, certificate chain) are the same for every
// recipient sent on that session, about 2 KB each. Stored once per session and domain, not
// once per attempt; an attempt keeps only what is its own (recipient, authentication).
// Registered in migrations.ts as `0005_session_evidence`. Older attempts keep their full
// evidence in attempts.evidence_json and have no session_evidence_id.

import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

export const sessionEvidenceMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('session_evidence')
      /** Made once per session and domain; the attempts of the group refer to it. */
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('evidence_json', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    // No foreign key: retention removes a row once no attempt refers to it any more.
    await db.schema.alterTable('attempts').addColumn('session_evidence_id', 'text').execute();
    await db.schema
      .createIndex('attempts_session_evidence')
      .on('attempts')
      .column('session_evidence_id')
      .execute();
  },
};
