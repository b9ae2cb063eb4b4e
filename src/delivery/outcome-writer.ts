// The worker's group commit: recipients' outcomes, with their attempts and webhook events,
// written in shared transactions. A connection uses a place of its pipeline again only once
// the outcome that held it is committed (connection.ts), so a transaction holds at most the
// pipeline depth's outcomes per connection, and a crash re-sends at most that many messages
// on each.

import type { Logger } from 'pino';
import {
  type AttemptObserver,
  type ClaimedRecipient,
  type Outcome,
  recordAttempts,
} from '../recipients/attempts.ts';
import type { Store } from '../store/database.ts';
import type { AttemptRecord } from '../store/delivery.repository.ts';
import { isFinal } from '../vocabulary/recipient-statuses.ts';

/**
 * Outcomes per transaction at most (connections times pipeline depth bound it in practice;
 * the store writes them in statements of 100 rows).
 */
const MAX_GROUP_COMMIT = 500;

interface Pending {
  r: ClaimedRecipient;
  outcome: Outcome;
  attempt: AttemptRecord | undefined;
  /** Messages with a recipient that became final: the round checks them for completion. */
  touched: Set<string>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export interface OutcomeWriterDeps {
  store: Store;
  /** The worker whose leases the outcomes need. */
  owner: string;
  now: () => number;
  logger: Logger;
  /** Told of the attempts of each commit (metrics). */
  observe?: AttemptObserver | undefined;
}

export class OutcomeWriter {
  readonly #deps: OutcomeWriterDeps;
  readonly #pending: Pending[] = [];
  #flushing: Promise<void> | undefined;

  constructor(deps: OutcomeWriterDeps) {
    this.#deps = deps;
  }

  /**
   * Records an outcome; resolves once it is committed. Outcomes that arrive while a commit
   * runs share the next transaction (group commit). Measured (bench, 4,000 messages, SQLite
   * FULL): 92 -> 162 msg/s, 6.75 -> 5.81 ms CPU/msg; one fsync per outcome was the largest
   * wall-time cost.
   */
  record(
    r: ClaimedRecipient,
    outcome: Outcome,
    attempt: AttemptRecord | undefined,
    touched: Set<string>,
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ r, outcome, attempt, touched, resolve, reject });
      // The flush starts in the check phase (setImmediate), after the event loop has handled
      // every reply that arrived in this poll phase, not in the microtask of the first one.
      // SQLite commits synchronously on this thread, so replies arrive while the previous
      // commit's fsync blocks it, and they now share the next commit. Before, each outcome had
      // a transaction of its own (4,520 commits for 4,500 messages; now 693). Measured (bench,
      // 4,000 messages, SQLite FULL): 1,100 -> 1,740 msg/s, 1.15 -> 0.84 ms CPU/msg.
      this.#flushing ??= new Promise<void>((resume) => setImmediate(resume)).then(() =>
        this.#flush(),
      );
    });
  }

  async #flush(): Promise<void> {
    try {
      while (this.#pending.length > 0) {
        const batch = this.#pending.splice(0, MAX_GROUP_COMMIT);
        let kept: boolean[];
        try {
          kept = await this.#write(batch);
        } catch (error) {
          for (const item of batch) item.reject(error);
          continue;
        }
        batch.forEach(({ r, outcome, touched, resolve }, i) => {
          if (!kept[i]) {
            this.#deps.logger.warn(
              { recipient: r.id },
              'lease lost before the outcome was recorded',
            );
          } else if (isFinal(outcome.status)) {
            touched.add(r.messageId);
          }
          resolve();
        });
      }
    } finally {
      this.#flushing = undefined;
    }
  }

  /** One transaction: the outcomes this worker still leases, and their webhook events. */
  #write(batch: Pending[]): Promise<boolean[]> {
    return recordAttempts(
      this.#deps.store.db,
      this.#deps.owner,
      this.#deps.now(),
      batch.map(({ r, outcome, attempt }) => ({
        recipient: r,
        recipientId: r.id,
        outcome,
        attempt,
      })),
      this.#deps.observe,
    );
  }
}
