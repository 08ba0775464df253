/**
 * A map that holds its first entry inline and becomes a real Map only at the
 * second. Each persistent session subscribes to one topic (its own commands
 * topic), and each such topic has one subscriber, so the persistence's per-session
 * and per-topic indexes almost always hold one entry: a Map and its hash table
 * cost ~230 B each there, this object ~48 B — for every subscribed idle router.
 */
export class SmallMap<K, V> {
  #key: K | undefined = undefined;
  #value: V | undefined = undefined;
  #single = false;
  /** Only once a second key is set; the inline entry moves into it. */
  #map: Map<K, V> | null = null;

  get size(): number {
    return this.#map ? this.#map.size : this.#single ? 1 : 0;
  }

  get(key: K): V | undefined {
    if (this.#map) return this.#map.get(key);
    return this.#single && this.#key === key ? this.#value : undefined;
  }

  has(key: K): boolean {
    if (this.#map) return this.#map.has(key);
    return this.#single && this.#key === key;
  }

  set(key: K, value: V): this {
    if (this.#map) {
      this.#map.set(key, value);
    } else if (!this.#single || this.#key === key) {
      this.#key = key;
      this.#value = value;
      this.#single = true;
    } else {
      this.#map = new Map([[this.#key as K, this.#value as V]]);
      this.#map.set(key, value);
      this.#clearInline();
    }
    return this;
  }

  delete(key: K): boolean {
    if (this.#map) return this.#map.delete(key);
    if (!this.#single || this.#key !== key) return false;
    this.#clearInline();
    return true;
  }

  #clearInline(): void {
    this.#key = undefined;
    this.#value = undefined;
    this.#single = false;
  }

  *keys(): IterableIterator<K> {
    for (const [key] of this) yield key;
  }

  *[Symbol.iterator](): IterableIterator<[K, V]> {
    if (this.#map) yield* this.#map;
    else if (this.#single) yield [this.#key as K, this.#value as V];
  }
}
