// How the API writes: the request quota take and the submission transaction. On a store
// with one writer (SQLite), every commit is an fsync (synchronous=FULL), and before this
// each accepted message paid two: one for the quota row, one for the message. Writes that
// wait while a commit runs now share the next one: each runs inside a savepoint of one
// transaction, so a write that fails is undone alone, and every caller hears of its write
// only after the shared commit returned. API bench (SQLite, 2,000 messages, 16 in flight):
// 4,046 -> 296 commits (2 -> 0.15 per accepted message), 757 -> 2,308 msg/s, 1.21 -> 0.52 ms
// CPU per message (fsync costs system time, and each commit's WAL frames user time).
//
// Where several processes write at once (PostgreSQL), commits are concurrent already and
// every write keeps its own, as before.

import { CompiledQuery, type ControlledTransaction, type Kysely } from 'kysely';
import type { Store } from './database.ts';
import { runCompiled } from './prepared-query.ts';
import type { Database } from './schema.ts';

/** Work on the handle given, which is a transaction (or the database, for one statement). */
export type Work<T> = (db: Kysely<Database>) => Promise<T>;

export interface Commits {
  /** Runs `work` in a transaction; resolves after it is committed. */
  transaction<T>(work: Work<T>): Promise<T>;
  /** Runs `work`, one atomic statement, committed when this resolves. */
  statement<T>(work: Work<T>): Promise<T>;
  /** Waits for writes in progress (closing). */
  drain(): Promise<void>;
}

/**
 * At most this many writes share a commit. A group holds the only SQLite connection while
 * it runs, so reads of other requests wait for it. In the API bench a group had 13.8 writes
 * on average (at most 16, the requests in flight) and took about 90 us per write, commit
 * included, so a full group holds the connection some 6 ms.
 */
const MAX_GROUP = 64;

export function createCommits(store: Store): Commits {
  if (store.capabilities.multipleWriters) return ownCommits(store.db);
  return new GroupCommit(store.db);
}

function ownCommits(db: Kysely<Database>): Commits {
  return {
    transaction: (work) => db.transaction().execute(work),
    statement: (work) => work(db),
    drain: async () => {},
  };
}

// The savepoint statements, compiled once and run on the group's transaction: Kysely's
// savepoint() makes a new transaction handle and compiles the statement on every call
// (savepoint and release: 4.1-5.5 -> 1.9-2.4 us of CPU, two writes per accepted message).
const SAVEPOINT = CompiledQuery.raw('savepoint write');
const ROLLBACK_TO_SAVEPOINT = CompiledQuery.raw('rollback to savepoint write');
const RELEASE_SAVEPOINT = CompiledQuery.raw('release savepoint write');

interface Member {
  work: Work<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

class GroupCommit implements Commits {
  readonly #db: Kysely<Database>;
  #waiting: Member[] = [];
  #running: Promise<void> | undefined;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  transaction<T>(work: Work<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#waiting.push({ work, resolve: resolve as (value: unknown) => void, reject });
      // setImmediate, not at once: requests whose bodies are being parsed in this turn of
      // the event loop reach this point too and join the group.
      this.#running ??= new Promise<void>((done) => setImmediate(done)).then(() => this.#run());
    });
  }

  statement<T>(work: Work<T>): Promise<T> {
    return this.transaction(work);
  }

  async drain(): Promise<void> {
    while (this.#running !== undefined) await this.#running;
  }

  async #run(): Promise<void> {
    try {
      while (this.#waiting.length > 0) {
        const group = this.#waiting.splice(0, MAX_GROUP);
        const outcomes = group.length === 1 ? undefined : await this.#together(group);
        // Alone: a single write, or a group whose commit failed. Nothing of a failed group
        // is on disk, so each write runs again in its own transaction; one bad write never
        // fails the others.
        const settled = outcomes ?? (await Promise.all(group.map((m) => this.#alone(m))));
        group.forEach((member, i) => {
          const outcome = settled[i]!;
          if (outcome.ok) member.resolve(outcome.value);
          else member.reject(outcome.error);
        });
      }
    } finally {
      this.#running = undefined;
    }
  }

  async #alone(member: Member): Promise<Outcome> {
    try {
      return { ok: true, value: await this.#db.transaction().execute(member.work) };
    } catch (error) {
      return { ok: false, error };
    }
  }

  /** The group in one transaction, each write in a savepoint; undefined when the commit failed. */
  async #together(group: Member[]): Promise<Outcome[] | undefined> {
    let trx: ControlledTransaction<Database>;
    try {
      trx = await this.#db.startTransaction().execute();
    } catch {
      return undefined;
    }
    const outcomes: Outcome[] = [];
    try {
      for (const member of group) {
        await runCompiled(trx, SAVEPOINT);
        try {
          outcomes.push({ ok: true, value: await member.work(trx) });
        } catch (error) {
          await runCompiled(trx, ROLLBACK_TO_SAVEPOINT);
          outcomes.push({ ok: false, error });
        }
        await runCompiled(trx, RELEASE_SAVEPOINT);
      }
      await trx.commit().execute();
      return outcomes;
    } catch {
      // A savepoint, release or the commit itself failed: the group is not to be trusted.
      await trx
        .rollback()
        .execute()
        .catch(() => {});
      return undefined;
    }
  }
}
