// The most the bounce MX keeps of received messages' content, in total, over every MX process
// on the database (SECUREMAIL_MX_STORE_BYTES). Rate limits bound one sender per minute, not
// many senders over the retention period: without a total, anyone able to reach port 25
// could fill the disk with mail to `postmaster@` of a bounce domain. Past the budget a
// message is still classified, applied to its recipient and recorded; only its content is
// not stored.

import type { Db } from '../store/database.ts';
import { sumKeptBytes } from '../store/inbound.repository.ts';

/**
 * How long a process trusts its reading of the total. Between readings it adds what it
 * kept itself, so the budget can be overrun by what the other MX processes keep in this
 * time: at the default rates, a few megabytes.
 */
export const STORE_BUDGET_REFRESH_MS = 10_000;

export class InboundStoreBudget {
  readonly limit: number;
  readonly #db: Db;
  readonly #now: () => number;
  #used = 0;
  #readAt: number | undefined;
  /** A reading in progress: messages arriving meanwhile wait for it instead of reading too. */
  #reading: Promise<void> | undefined;

  constructor(db: Db, limit: number, now: () => number) {
    this.#db = db;
    this.limit = limit;
    this.#now = now;
  }

  /** Whether `bytes` more may be kept now; when so, they are counted as kept. */
  async take(bytes: number): Promise<boolean> {
    if (bytes === 0) return true;
    const now = this.#now();
    if (this.#readAt === undefined || now - this.#readAt >= STORE_BUDGET_REFRESH_MS) {
      this.#reading ??= sumKeptBytes(this.#db)
        .then((used) => {
          this.#used = used;
          this.#readAt = now;
        })
        .finally(() => {
          this.#reading = undefined;
        });
      await this.#reading;
    }
    if (this.#used + bytes > this.limit) return false;
    this.#used += bytes;
    return true;
  }
}
