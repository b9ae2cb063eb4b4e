// A small TTL cache with least-recently-used eviction. A Map keeps insertion order, so
// re-inserting an entry on every hit makes the first key the least recently used one.

export interface CacheHit<V> {
  value: V;
  /** Whole seconds left before the entry expires (at least 1 while it is alive). */
  remainingSeconds: number;
}

interface Entry<V> {
  value: V;
  expiresAt: number;
}

const MS_PER_SECOND = 1000;

export class TtlCache<V> {
  readonly #entries = new Map<string, Entry<V>>();
  readonly #maxEntries: number;
  readonly #now: () => number;

  /** `now` returns milliseconds, like `Date.now`. */
  constructor(maxEntries: number, now: () => number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new TypeError('cache size must be a positive integer');
    }
    this.#maxEntries = maxEntries;
    this.#now = now;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): CacheHit<V> | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    const left = entry.expiresAt - this.#now();
    this.#entries.delete(key);
    if (left <= 0) return undefined;
    this.#entries.set(key, entry);
    return { value: entry.value, remainingSeconds: Math.ceil(left / MS_PER_SECOND) };
  }

  /** Entries with a TTL of zero or less are not stored (RFC 1035 3.2.1: TTL 0 = do not cache). */
  set(key: string, value: V, ttlSeconds: number): void {
    this.#entries.delete(key);
    if (!(ttlSeconds > 0)) return;
    this.#entries.set(key, { value, expiresAt: this.#now() + ttlSeconds * MS_PER_SECOND });
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
  }

  clear(): void {
    this.#entries.clear();
  }
}
