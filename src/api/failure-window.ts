// Counts failures per key over a sliding window: a key is over its limit while `limit`
// failures lie within the last `windowMs`. A sliding log rather than fixed windows, because
// a fixed window lets 2 x limit through around its boundary, and because the log says
// exactly when the key is free again (Retry-After). It keeps at most about `limit`
// timestamps per key and a bounded number of keys, so a caller inventing keys (random
// client ids, many addresses) costs memory only up to `maxKeys`.

const DEFAULT_MAX_KEYS = 10_000;

export class FailureWindow {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #maxKeys: number;
  // Per key, the failure times in ascending order. Map order is insertion order: the first
  // keys are the oldest, evicted first when the map is full of live keys.
  readonly #times = new Map<string, number[]>();

  constructor(limit: number, windowMs: number, maxKeys = DEFAULT_MAX_KEYS) {
    this.#limit = limit;
    this.#windowMs = windowMs;
    this.#maxKeys = maxKeys;
  }

  /** Milliseconds until `key` is below its limit again; 0 when it is below now. */
  waitMs(key: string, now: number): number {
    const times = this.#live(key, now);
    if (times === undefined || times.length < this.#limit) return 0;
    // Once this one leaves the window, limit - 1 remain.
    return times[times.length - this.#limit]! + this.#windowMs - now;
  }

  /** Records a failure (or reserves one for an attempt in flight) at `at`. */
  add(key: string, at: number): void {
    const times = this.#live(key, at);
    if (times !== undefined) {
      times.push(at);
      // A key is refused at the limit, so only attempts admitted in parallel go beyond it.
      if (times.length > 2 * this.#limit) times.splice(0, times.length - 2 * this.#limit);
      return;
    }
    if (this.#times.size >= this.#maxKeys) this.#makeRoom(at);
    this.#times.set(key, [at]);
  }

  /** Takes back a reservation made with `add(key, at)` (the attempt did not fail). */
  remove(key: string, at: number): void {
    const times = this.#times.get(key);
    if (times === undefined) return;
    const i = times.lastIndexOf(at);
    if (i >= 0) times.splice(i, 1);
    if (times.length === 0) this.#times.delete(key);
  }

  get size(): number {
    return this.#times.size;
  }

  #live(key: string, now: number): number[] | undefined {
    const times = this.#times.get(key);
    if (times === undefined) return undefined;
    const from = now - this.#windowMs;
    let expired = 0;
    while (expired < times.length && times[expired]! <= from) expired++;
    if (expired > 0) times.splice(0, expired);
    if (times.length > 0) return times;
    this.#times.delete(key);
    return undefined;
  }

  #makeRoom(now: number): void {
    for (const key of [...this.#times.keys()]) this.#live(key, now);
    // Still full of live keys: drop the oldest tenth, so the next sweep is some keys away.
    const target = Math.floor(this.#maxKeys * 0.9);
    for (const key of this.#times.keys()) {
      if (this.#times.size <= target) break;
      this.#times.delete(key);
    }
  }
}
