// Per-address counters over fixed one-minute windows: enough to stop one host from
// flooding the bounce MX, without any shared state between MX processes.

const WINDOW_MS = 60_000;
// Above this many tracked addresses, finished windows are swept on the next hit.
const SWEEP_THRESHOLD = 10_000;

export class RateLimiter {
  readonly #limit: number;
  readonly #now: () => number;
  readonly #windows = new Map<string, { start: number; count: number }>();

  constructor(perMinute: number, now: () => number) {
    this.#limit = perMinute;
    this.#now = now;
  }

  /** Counts one event for `key`; false when the key is over its limit for this minute. */
  hit(key: string): boolean {
    const now = this.#now();
    if (this.#windows.size > SWEEP_THRESHOLD) this.#sweep(now);
    const window = this.#windows.get(key);
    if (window === undefined || now - window.start >= WINDOW_MS) {
      this.#windows.set(key, { start: now, count: 1 });
      return true;
    }
    window.count += 1;
    return window.count <= this.#limit;
  }

  #sweep(now: number): void {
    for (const [key, window] of this.#windows) {
      if (now - window.start >= WINDOW_MS) this.#windows.delete(key);
    }
  }
}
