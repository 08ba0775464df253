/**
 * A FIFO with a fixed capacity that drops its oldest entry to make room, and counts
 * what it dropped. Backs the offline queues of events and results (issue 3: "events go
 * to a bounded queue, drop oldest, counted").
 *
 * @example
 *   const queue = new BoundedQueue<string>(2);
 *   queue.push("a"); queue.push("b"); queue.push("c");
 *   queue.shift(); // "b" — "a" was dropped
 *   queue.dropped; // 1
 */
export class BoundedQueue<T> {
  // Bound: `capacity` entries; a ring buffer so shift() is O(1).
  readonly #items: (T | undefined)[];
  #head = 0;
  #size = 0;
  #dropped = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError("capacity must be an integer >= 1");
    this.#items = new Array(capacity);
  }

  get size(): number {
    return this.#size;
  }

  /** Entries dropped because the queue was full, since creation. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Appends; when full, the oldest entry is dropped and returned. */
  push(item: T): T | undefined {
    let evicted: T | undefined;
    if (this.#size === this.capacity) {
      evicted = this.shift();
      this.#dropped++;
    }
    this.#items[(this.#head + this.#size) % this.capacity] = item;
    this.#size++;
    return evicted;
  }

  /**
   * Puts an entry back at the front (a publish that failed with the connection). When
   * full, the entry itself is the oldest, so it is the one dropped.
   */
  unshift(item: T): boolean {
    if (this.#size === this.capacity) {
      this.#dropped++;
      return false;
    }
    this.#head = (this.#head - 1 + this.capacity) % this.capacity;
    this.#items[this.#head] = item;
    this.#size++;
    return true;
  }

  shift(): T | undefined {
    if (this.#size === 0) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.capacity;
    this.#size--;
    return item;
  }

  clear(): void {
    this.#items.fill(undefined);
    this.#head = 0;
    this.#size = 0;
  }
}
