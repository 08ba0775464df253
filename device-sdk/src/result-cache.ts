/**
 * Recent command results by command id, least recently used evicted first. QoS 1 may
 * deliver a command twice; a second delivery is answered from here instead of running
 * the handler again (issue 3, "idempotent commands").
 *
 * @example
 *   const cache = new ResultCache(256);
 *   cache.set("cmd-1", '{"id":"cmd-1","ok":true,"result":null}');
 *   cache.get("cmd-1");
 */
export class ResultCache {
  // Bound: `capacity` entries. A Map iterates in insertion order, so re-inserting on
  // read keeps the least recently used entry first.
  readonly #entries = new Map<string, string>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError("capacity must be an integer >= 1");
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The serialized result for `id`, refreshed as most recently used. */
  get(id: string): string | undefined {
    const payload = this.#entries.get(id);
    if (payload === undefined) return undefined;
    this.#entries.delete(id);
    this.#entries.set(id, payload);
    return payload;
  }

  set(id: string, payload: string): void {
    this.#entries.delete(id);
    this.#entries.set(id, payload);
    while (this.#entries.size > this.capacity) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
  }

  clear(): void {
    this.#entries.clear();
  }
}
