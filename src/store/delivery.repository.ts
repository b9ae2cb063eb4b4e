// The worker's side of the queue: claiming due recipients under a lease, and recording the
// outcome of each attempt. A claim is a lease, not a lock held open: a worker that dies
// leaves its recipients claimable again when the lease runs out.

import { type Kysely, sql } from 'kysely';
import type { AuthMethod, PolicyLevel } from '../vocabulary/policy-levels.ts';
import type { RecipientReason } from '../vocabulary/reasons.ts';
import { type RecipientStatus, UNDELIVERED_STATUSES } from '../vocabulary/recipient-statuses.ts';
import type { AttemptVerdict } from '../vocabulary/verdicts.ts';
import type { Capabilities } from './database.ts';
import type { Database } from './schema.ts';

type Db = Kysely<Database>;

export interface ClaimedRecipient {
  id: string;
  messageId: string;
  address: string;
  domain: string;
  attempts: number;
  acceptedAt: number;
  accountId: string;
  accountDomain: string;
  bounceSubdomain: string;
  policyLevel: PolicyLevel;
  requireTls: boolean;
  messageKind: string;
  size: number;
}

/**
 * The due recipients, oldest due first. The partial index `recipients_due` (next_attempt_at,
 * only rows still queued or deferred) serves it, so the millions of final rows a busy
 * queue accumulates are never read: the benchmark checks the plan with 1M rows.
 * `skipDomains`: recipient domains the worker already holds enough of (it claims
 * continuously and keeps a bounded number in memory; one slow domain must not fill it).
 */
export function dueRecipientsQuery(
  db: Db,
  now: number,
  limit: number,
  skipDomains: readonly string[] = [],
) {
  const due = db
    .selectFrom('recipients')
    .select('id')
    // Literals, not parameters: SQLite uses a partial index only when the query's WHERE
    // visibly implies the index's, and a bound `?` proves nothing at prepare time. With
    // parameters the plan was a full scan (22.8 ms per claim at 100k final rows, growing
    // with the table); with literals it reads recipients_due only.
    .where(sql<boolean>`status in (${sql.lit('queued')}, ${sql.lit('deferred')})`)
    .where('next_attempt_at', '<=', now)
    .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]));
  return (skipDomains.length > 0 ? due.where('domain', 'not in', skipDomains) : due)
    .orderBy('next_attempt_at')
    .limit(limit);
}

export async function claimDue(
  db: Db,
  capabilities: Capabilities,
  owner: string,
  now: number,
  limit: number,
  leaseMs: number,
  skipDomains: readonly string[] = [],
): Promise<ClaimedRecipient[]> {
  let due = dueRecipientsQuery(db, now, limit, skipDomains);
  // Several workers on PostgreSQL: each skips rows another is claiming right now. SQLite has
  // one writer, whose transactions already run one at a time.
  if (capabilities.skipLocked) due = due.forUpdate().skipLocked();

  // One transaction: when the connection is lost between the two statements, the claim is
  // rolled back instead of leaving leases the worker never learned of (they would wait out
  // their lease while the worker lives).
  return db.transaction().execute(async (trx) => claimAndRead(trx, due, owner, now, leaseMs));
}

async function claimAndRead(
  db: Db,
  due: ReturnType<typeof dueRecipientsQuery>,
  owner: string,
  now: number,
  leaseMs: number,
): Promise<ClaimedRecipient[]> {
  const claimed = await db
    .updateTable('recipients')
    .set({ lease_owner: owner, lease_until: now + leaseMs })
    .where('id', 'in', due)
    .returning('id')
    .execute();
  if (claimed.length === 0) return [];

  const rows = await db
    .selectFrom('recipients')
    .innerJoin('messages', 'messages.id', 'recipients.message_id')
    .innerJoin('accounts', 'accounts.id', 'messages.account_id')
    .select([
      'recipients.id',
      'recipients.message_id',
      'recipients.address',
      'recipients.domain',
      'recipients.attempts',
      'messages.created_at',
      'messages.account_id',
      'messages.require_tls',
      'messages.kind',
      'messages.size',
      'accounts.domain as account_domain',
      'accounts.bounce_subdomain',
      'accounts.policy_level',
    ])
    .where(
      'recipients.id',
      'in',
      claimed.map((c) => c.id),
    )
    .where('recipients.lease_owner', '=', owner)
    .execute();
  return rows.map((r) => ({
    id: r.id,
    messageId: r.message_id,
    address: r.address,
    domain: r.domain,
    attempts: r.attempts,
    acceptedAt: r.created_at,
    accountId: r.account_id,
    accountDomain: r.account_domain,
    bounceSubdomain: r.bounce_subdomain,
    policyLevel: r.policy_level,
    requireTls: r.require_tls === 1,
    messageKind: r.kind,
    size: r.size,
  }));
}

/**
 * The sealed bodies of several messages in one query (a claim round's messages), instead of
 * one SELECT per message. Missing or purged bodies are absent from the map.
 */
export async function sealedBodies(
  db: Db,
  messageIds: readonly string[],
): Promise<Map<string, string>> {
  const bodies = new Map<string, string>();
  for (let i = 0; i < messageIds.length; i += 500) {
    const rows = await db
      .selectFrom('messages')
      .select(['id', 'body_sealed'])
      .where('id', 'in', messageIds.slice(i, i + 500))
      .execute();
    for (const row of rows) if (row.body_sealed != null) bodies.set(row.id, row.body_sealed);
  }
  return bodies;
}

export interface AttemptRecord {
  id: string;
  startedAt: number;
  endedAt: number;
  verdict: AttemptVerdict;
  reason: RecipientReason | null;
  mxHost: string | null;
  reply: string | null;
  /** The attempt's own evidence (a JSON object). */
  evidenceJson: string;
  /** The evidence it shares with the other attempts of its session (stored once). */
  sharedEvidence?: SharedEvidence | undefined;
  /**
   * How the server was authenticated, when a message was sent: also in `evidenceJson`, here
   * for counting (metrics) without parsing it. Not a column.
   */
  authentication?: AuthMethod | undefined;
}

export interface SharedEvidence {
  /**
   * Made once per session and domain (a time-ordered UUID, see messages.table.ts), so every
   * attempt of the group refers to the one row, written by whichever commit comes first.
   */
  id: string;
  /** A JSON object. */
  json: string;
  /**
   * Set once a commit wrote the row: later outcomes of the group refer to it without
   * sending the 2 KB again (recordOutcomes).
   */
  stored?: boolean;
  /**
   * The TLS version of the session's server: also in `json`, here for counting (metrics)
   * without parsing it. Not a column.
   */
  tlsVersion?: string | undefined;
}

export interface Outcome {
  status: RecipientStatus;
  reason: RecipientReason | null;
  detail: string | null;
  /** For deferred recipients: when to try again. */
  nextAttemptAt?: number;
  /** False for recipients that were not tried at all (e.g. the connection dropped first). */
  counted: boolean;
}

export interface OutcomeWrite {
  recipientId: string;
  outcome: Outcome;
  attempt: AttemptRecord | undefined;
}

/** Rows per multi-row statement: well under SQLite's and PostgreSQL's parameter limits. */
const ROWS_PER_STATEMENT = 100;

/**
 * Several recipients' outcomes in ONE transaction (one commit, one fsync on SQLite): a group
 * commit. The worker only ever puts outcomes of different connections together, each the one
 * message just sent on its connection, so a crash still re-sends at most one message per
 * connection. Only recipients whose lease this worker still holds are changed; `alsoForKept`
 * adds writes for those in the same transaction (the webhook outbox). Returns, per write,
 * whether the lease was still held.
 *
 * Multi-row statements, not one UPDATE and one INSERT per outcome: on PostgreSQL every
 * statement is a round trip inside the transaction, on SQLite each one is built, bound and
 * stepped on the event loop.
 */
export async function recordOutcomes(
  db: Db,
  owner: string,
  now: number,
  writes: readonly OutcomeWrite[],
  alsoForKept?: (trx: Db, kept: OutcomeWrite[]) => Promise<unknown>,
): Promise<boolean[]> {
  if (writes.length === 0) return [];
  // Shared evidence this transaction writes; marked stored only once it has committed.
  const writing: SharedEvidence[] = [];
  const result = await db.transaction().execute(async (trx) => {
    const keptIds = new Set<string>();
    for (let i = 0; i < writes.length; i += ROWS_PER_STATEMENT) {
      const chunk = writes.slice(i, i + ROWS_PER_STATEMENT);
      for (const id of await updateLeased(trx, owner, now, chunk)) keptIds.add(id);
    }
    const kept = writes.filter((w) => keptIds.has(w.recipientId));
    for (const { attempt } of kept) {
      const evidence = attempt?.sharedEvidence;
      if (evidence !== undefined && !evidence.stored && !writing.includes(evidence)) {
        writing.push(evidence);
      }
    }
    const sharedRows = writing.map((e) => ({ id: e.id, evidence_json: e.json, created_at: now }));
    for (let i = 0; i < sharedRows.length; i += ROWS_PER_STATEMENT) {
      await trx
        .insertInto('session_evidence')
        .values(sharedRows.slice(i, i + ROWS_PER_STATEMENT))
        .onConflict((oc) => oc.column('id').doNothing())
        .execute();
    }
    const attempts = kept.flatMap(({ recipientId, attempt }) =>
      attempt === undefined
        ? []
        : [
            {
              id: attempt.id,
              recipient_id: recipientId,
              started_at: attempt.startedAt,
              ended_at: attempt.endedAt,
              verdict: attempt.verdict,
              reason: attempt.reason,
              mx_host: attempt.mxHost,
              reply: attempt.reply,
              evidence_json: attempt.evidenceJson,
              session_evidence_id: attempt.sharedEvidence?.id ?? null,
            },
          ],
    );
    for (let i = 0; i < attempts.length; i += ROWS_PER_STATEMENT) {
      await trx
        .insertInto('attempts')
        .values(attempts.slice(i, i + ROWS_PER_STATEMENT))
        .execute();
    }
    if (alsoForKept !== undefined && kept.length > 0) await alsoForKept(trx, kept);
    return writes.map((w) => keptIds.has(w.recipientId));
  });
  for (const evidence of writing) evidence.stored = true;
  return result;
}

/**
 * One UPDATE for several recipients, each with its own values (a VALUES list joined by id),
 * limited to the rows this worker still leases. Returns the ids it changed. The same text
 * runs on SQLite (3.33+: UPDATE ... FROM) and PostgreSQL; the casts give PostgreSQL the
 * column types a parameter in VALUES cannot tell it.
 */
async function updateLeased(
  trx: Db,
  owner: string,
  now: number,
  writes: readonly OutcomeWrite[],
): Promise<string[]> {
  const rows = writes.map(({ recipientId, outcome }) => {
    const final = outcome.status !== 'queued' && outcome.status !== 'deferred';
    return sql`(cast(${recipientId} as text), cast(${outcome.status} as text),
      cast(${outcome.counted ? 1 : 0} as integer), cast(${outcome.nextAttemptAt ?? now} as bigint),
      cast(${outcome.reason} as text), cast(${outcome.detail} as text),
      cast(${final ? now : null} as bigint))`;
  });
  const result = await sql<{ id: string }>`
    with v (id, status, counted, next_attempt_at, reason, detail, final_at) as (
      values ${sql.join(rows)}
    )
    update recipients set
      status = v.status,
      attempts = recipients.attempts + v.counted,
      next_attempt_at = v.next_attempt_at,
      reason = v.reason,
      detail = v.detail,
      lease_owner = null,
      lease_until = null,
      updated_at = ${now},
      final_at = v.final_at
    from v
    where recipients.id = v.id and recipients.lease_owner = ${owner}
    returning recipients.id`.execute(trx);
  return result.rows.map((r) => r.id);
}

/** Gives a claimed recipient back untouched (shutdown before it was tried). */
export async function releaseLease(db: Db, recipientIds: string[], owner: string): Promise<void> {
  if (recipientIds.length === 0) return;
  await db
    .updateTable('recipients')
    .set({ lease_owner: null, lease_until: null })
    .where('id', 'in', recipientIds)
    .where('lease_owner', '=', owner)
    .execute();
}

/**
 * Clears every lease of `owner` except those of `heldIds`: the leases a claim committed while
 * its answer was lost (the connection dropped during COMMIT), which the worker never learned
 * of. Returns how many were cleared. `heldIds` is what the worker holds in memory; a lease of
 * its own that it does not hold can only be such a lost claim.
 */
export async function releaseLeasesNotHeld(
  db: Db,
  owner: string,
  heldIds: readonly string[],
): Promise<number> {
  let query = db
    .updateTable('recipients')
    .set({ lease_owner: null, lease_until: null })
    .where('lease_owner', '=', owner);
  if (heldIds.length > 0) query = query.where('id', 'not in', heldIds);
  const result = await query.executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/**
 * Marks the message complete when its last recipient became final. Returns true only to the
 * one caller that completed it, so follow-up work (the notification) happens once.
 */
export async function completeIfFinal(db: Db, messageId: string, now: number): Promise<boolean> {
  const open = await db
    .selectFrom('recipients')
    .select('id')
    .where('message_id', '=', messageId)
    .where('final_at', 'is', null)
    .limit(1)
    .executeTakeFirst();
  if (open !== undefined) return false;
  const result = await db
    .updateTable('messages')
    .set({ completed_at: now })
    .where('id', '=', messageId)
    .where('completed_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export interface CompletedMessage {
  id: string;
  /** Whether a recipient of an API message ended undelivered: a notification is due. */
  undelivered: boolean;
}

/**
 * completeIfFinal for several messages in ONE transaction: the messages whose recipients
 * are all final are marked complete, and returned (each to one caller only), with whether
 * a notification is due, so that the all-delivered majority costs no further queries.
 * The worker called completeIfFinal per message at the end of each round, each UPDATE its
 * own commit (one fsync per message on SQLite, while no connection was sending).
 */
export async function completeIfFinalMany(
  db: Db,
  messageIds: readonly string[],
  now: number,
): Promise<CompletedMessage[]> {
  if (messageIds.length === 0) return [];
  return db.transaction().execute(async (trx) => {
    const completed: CompletedMessage[] = [];
    for (let i = 0; i < messageIds.length; i += 500) {
      const rows = await trx
        .updateTable('messages')
        .set({ completed_at: now })
        .where('id', 'in', messageIds.slice(i, i + 500))
        .where('completed_at', 'is', null)
        .where(({ not, exists, selectFrom }) =>
          not(
            exists(
              selectFrom('recipients')
                .select('recipients.id')
                .whereRef('recipients.message_id', '=', 'messages.id')
                .where('recipients.final_at', 'is', null),
            ),
          ),
        )
        .returning(({ exists, selectFrom }) => [
          'id',
          'kind',
          exists(
            selectFrom('recipients')
              .select('recipients.id')
              .whereRef('recipients.message_id', '=', 'messages.id')
              .where('recipients.status', 'in', UNDELIVERED_STATUSES),
          ).as('undelivered'),
        ])
        .execute();
      for (const row of rows) {
        // SQLite answers EXISTS with 0/1, PostgreSQL with a boolean.
        completed.push({
          id: row.id,
          undelivered: row.kind === 'message' && Boolean(row.undelivered),
        });
      }
    }
    return completed;
  });
}

export async function isComplete(db: Db, messageId: string): Promise<boolean> {
  const row = await db
    .selectFrom('messages')
    .select('completed_at')
    .where('id', '=', messageId)
    .executeTakeFirst();
  return row?.completed_at != null;
}
