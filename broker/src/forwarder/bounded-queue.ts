/**
 * A fixed-capacity FIFO ring that evicts its oldest item when full. Items carry
 * an implicit sequence number, so a batch read with `peek` can later be removed
 * with `removeBefore` even if some of its items were evicted in the meantime.
 */
export class BoundedQueue<T> {
  // Bound: `capacity` slots, allocated once; never grows.
  private readonly slots: (T | undefined)[];
  private head = 0;
  private size = 0;
  /** Sequence number of the item at the head. */
  private headSeq = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError("capacity must be an integer ≥ 1");
    this.slots = new Array<T | undefined>(capacity);
  }

  get length(): number {
    return this.size;
  }

  /** Appends an item; when full, first evicts and returns the oldest. */
  push(item: T): { evicted: boolean } {
    let evicted = false;
    if (this.size === this.capacity) {
      this.shift();
      evicted = true;
    }
    this.slots[(this.head + this.size) % this.capacity] = item;
    this.size++;
    return { evicted };
  }

  /** The first `count` items (without removing them) and the sequence number just after them. */
  peek(count: number): { items: T[]; endSeq: number } {
    const n = Math.min(count, this.size);
    const items: T[] = [];
    for (let i = 0; i < n; i++) items.push(this.slots[(this.head + i) % this.capacity] as T);
    return { items, endSeq: this.headSeq + n };
  }

  /** Removes every item whose sequence number is below `endSeq`; returns how many were removed. */
  removeBefore(endSeq: number): number {
    let removed = 0;
    while (this.size > 0 && this.headSeq < endSeq) {
      this.shift();
      removed++;
    }
    return removed;
  }

  clear(): number {
    const removed = this.size;
    this.removeBefore(this.headSeq + this.size);
    return removed;
  }

  private shift(): void {
    this.slots[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.size--;
    this.headSeq++;
  }
}
