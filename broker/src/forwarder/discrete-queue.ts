import type { EncodedEvent } from "./encoded-event.js";

/** One buffered event; `seq` orders every event the forwarder ever held. */
export interface BufferedEvent {
  readonly seq: number;
  readonly event: EncodedEvent;
}

/** A discrete event, linked both in arrival order and in its device's own order. */
class Node implements BufferedEvent {
  prev: Node | null = null;
  next: Node | null = null;
  devicePrev: Node | null = null;
  deviceNext: Node | null = null;
  linked = true;

  constructor(
    readonly seq: number,
    readonly event: EncodedEvent,
  ) {}
}

interface DeviceShare {
  head: Node;
  tail: Node;
  bytes: number;
}

/** What shrinking dropped: device events, and superseded presence/state values (history). */
export interface Shrunk {
  dropped: number;
  superseded: number;
}

/**
 * The forwarder's droppable lane: device `event`s in arrival order — and a device's
 * superseded presence and state values, kept so that while there is room the edge
 * still sees each change in order — bounded in bytes by the caller. When over budget
 * it drops oldest first, with a fair share per device:
 * a device holding more than `budget / devices with events` loses its own oldest event,
 * so one chatty device cannot evict the others'; otherwise the oldest event of all goes.
 * Both lists are doubly linked, so every drop and removal is O(1).
 */
export class DiscreteQueue {
  #head: Node | null = null;
  #tail: Node | null = null;
  /** Bound: devices with a buffered event (each ≤ the byte budget); deleted when a device's last event leaves. */
  readonly #byDevice = new Map<string, DeviceShare>();
  #bytes = 0;
  #length = 0;

  get bytes(): number {
    return this.#bytes;
  }

  get length(): number {
    return this.#length;
  }

  get devices(): number {
    return this.#byDevice.size;
  }

  append(seq: number, event: EncodedEvent): BufferedEvent {
    const node = new Node(seq, event);
    node.prev = this.#tail;
    if (this.#tail) this.#tail.next = node;
    else this.#head = node;
    this.#tail = node;
    const share = this.#byDevice.get(event.deviceId);
    if (share) {
      node.devicePrev = share.tail;
      share.tail.deviceNext = node;
      share.tail = node;
      share.bytes += event.bytes;
    } else {
      this.#byDevice.set(event.deviceId, { head: node, tail: node, bytes: event.bytes });
    }
    this.#bytes += event.bytes;
    this.#length++;
    return node;
  }

  /** Drops events until at most `budget` bytes remain; `pusher` is the device that just added one. */
  shrinkTo(budget: number, pusher: string): Shrunk {
    const shrunk: Shrunk = { dropped: 0, superseded: 0 };
    while (this.#bytes > budget && this.#head) {
      const fairShare = budget / this.#byDevice.size;
      const own = this.#byDevice.get(pusher);
      const victim = own && own.bytes > fairShare ? own.head : this.#head;
      this.#unlink(victim);
      if (victim.event.lane === "discrete") shrunk.dropped++;
      else shrunk.superseded++;
    }
    return shrunk;
  }

  /** True when `item` was appended here (held or not any more). */
  owns(item: BufferedEvent): boolean {
    return item instanceof Node;
  }

  has(item: BufferedEvent): boolean {
    return item instanceof Node && item.linked;
  }

  /** Removes a device's superseded values of `lane` older than `beforeSeq` (a newer one was delivered). */
  removeHistory(deviceId: string, lane: EncodedEvent["lane"], beforeSeq: number): number {
    let removed = 0;
    let node = this.#byDevice.get(deviceId)?.head ?? null;
    while (node) {
      const next = node.deviceNext;
      if (node.event.lane === lane && node.seq < beforeSeq) {
        this.#unlink(node);
        removed++;
      }
      node = next;
    }
    return removed;
  }

  /** Removes an event still held; false if it was already dropped or removed. */
  remove(item: BufferedEvent): boolean {
    if (!(item instanceof Node) || !item.linked) return false;
    this.#unlink(item);
    return true;
  }

  /** Oldest first. */
  *[Symbol.iterator](): IterableIterator<BufferedEvent> {
    for (let node = this.#head; node; node = node.next) yield node;
  }

  clear(): number {
    const removed = this.#length;
    while (this.#head) this.#unlink(this.#head);
    return removed;
  }

  #unlink(node: Node): void {
    node.linked = false;
    if (node.prev) node.prev.next = node.next;
    else this.#head = node.next;
    if (node.next) node.next.prev = node.prev;
    else this.#tail = node.prev;
    const share = this.#byDevice.get(node.event.deviceId);
    if (share) {
      if (node.devicePrev) node.devicePrev.deviceNext = node.deviceNext;
      else if (node.deviceNext) share.head = node.deviceNext;
      if (node.deviceNext) node.deviceNext.devicePrev = node.devicePrev;
      else if (node.devicePrev) share.tail = node.devicePrev;
      share.bytes -= node.event.bytes;
      if (share.head === node && share.tail === node) this.#byDevice.delete(node.event.deviceId);
    }
    node.prev = node.next = node.devicePrev = node.deviceNext = null;
    this.#bytes -= node.event.bytes;
    this.#length--;
  }
}
