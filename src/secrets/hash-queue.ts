// Bounds how many scrypt checks run at once, and how many may wait. scrypt runs on libuv's
// thread pool (4 threads, shared with file and DNS work) and costs 240 ms of one core per
// check on the 2-core CI machine: 64 checks started together took 6.5 s to finish, and a
// valid client's check finished last among them. Two at a time keep both cores busy
// (2 in parallel: 360 ms; 4: 720 ms, no faster per check); a short queue keeps the wait
// under about 1.5 s, and beyond it a caller is told at once to come back. Callers that
// have proved their secret before go ahead of the others (see token-guard.ts).

/** The queue is full: nothing was run. */
export class HashQueueFull extends Error {
  constructor() {
    super('too many secret checks are waiting');
    this.name = 'HashQueueFull';
  }
}

export interface HashQueueOptions {
  /** Checks running at once. */
  concurrency: number;
  /** Checks waiting, per lane; one more is refused with HashQueueFull. */
  maxWaiting: number;
}

export const HASH_QUEUE_DEFAULTS: HashQueueOptions = { concurrency: 2, maxWaiting: 8 };

export class HashQueue {
  readonly #options: HashQueueOptions;
  #running = 0;
  readonly #first: Array<() => void> = [];
  readonly #rest: Array<() => void> = [];

  constructor(options: HashQueueOptions = HASH_QUEUE_DEFAULTS) {
    this.#options = options;
  }

  /** Checks running now and waiting (for tests and metrics). */
  get stats(): { running: number; waiting: number } {
    return { running: this.#running, waiting: this.#first.length + this.#rest.length };
  }

  /**
   * Runs `work` when a slot is free; `first` callers are started before all others that
   * wait. Rejects with HashQueueFull, without running `work`, when its lane is full.
   */
  async run<T>(work: () => Promise<T>, first = false): Promise<T> {
    if (this.#running >= this.#options.concurrency) {
      const lane = first ? this.#first : this.#rest;
      if (lane.length >= this.#options.maxWaiting) throw new HashQueueFull();
      await new Promise<void>((resolve) => lane.push(resolve));
    } else {
      this.#running++;
    }
    try {
      return await work();
    } finally {
      // The slot passes straight to the next waiter, so a caller arriving in between cannot
      // take it and the running count stays exact.
      const next = this.#first.shift() ?? this.#rest.shift();
      if (next !== undefined) next();
      else this.#running--;
    }
  }
}
