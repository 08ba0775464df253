/**
 * A map of per-key limiter state (per source address, per device) with a hard
 * bound: the state of a limiter is itself a collection that grows with traffic.
 * Entries are kept in least-recently-used order; each insert first drops idle
 * entries from the old end (state equal to no state, e.g. a full bucket), and
 * beyond `max` entries drops the oldest whatever it holds. No timer: the work
 * is a few steps per insert.
 */
export class RecencyMap<V> {
  /** Bound: `max` entries (insertion order = recency order). */
  readonly #map = new Map<string, V>();
  readonly #max: number;
  readonly #isIdle: (value: V) => boolean;
  #evicted = 0;

  constructor(max: number, isIdle: (value: V) => boolean) {
    this.#max = max;
    this.#isIdle = isIdle;
  }

  get size(): number {
    return this.#map.size;
  }

  /** Entries dropped while not idle because the map was full (their limits started over). */
  get evicted(): number {
    return this.#evicted;
  }

  get(key: string): V | undefined {
    return this.#map.get(key);
  }

  /** The entry for `key`, created if missing, moved to the recent end. */
  touch(key: string, create: () => V): V {
    const existing = this.#map.get(key);
    if (existing !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, existing);
      return existing;
    }
    this.#prune();
    const value = create();
    this.#map.set(key, value);
    return value;
  }

  delete(key: string): void {
    this.#map.delete(key);
  }

  clear(): void {
    this.#map.clear();
  }

  /** Up to two idle entries from the old end per insert (amortised), then the hard bound. */
  #prune(): void {
    for (let i = 0; i < 2; i++) {
      const oldest = this.#map.entries().next();
      if (oldest.done || !this.#isIdle(oldest.value[1])) break;
      this.#map.delete(oldest.value[0]);
    }
    while (this.#map.size >= this.#max) {
      const oldest = this.#map.keys().next();
      if (oldest.done) break;
      this.#map.delete(oldest.value);
      this.#evicted++;
    }
  }
}
