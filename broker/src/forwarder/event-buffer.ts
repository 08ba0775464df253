import { type BufferedEvent, DiscreteQueue } from "./discrete-queue.js";
import type { EncodedEvent } from "./encoded-event.js";

export type { BufferedEvent } from "./discrete-queue.js";

/** What one push did besides holding the event. */
export interface PushEffect {
  /** Superseded presence/state values given up to stay within the byte budget. */
  coalesced: number;
  /** Device events dropped to stay within the byte budget (oldest first, fair share per device). */
  dropped: number;
}

/** Bytes of a batch besides its events: `{"batchId":"<≤128>","events":[` … `]}`, rounded up. */
export const BATCH_ENVELOPE_BYTES = 1024;

/**
 * Everything the forwarder holds for the edge, in three lanes (issue 12):
 * - **latest**: one slot per device for its latest `presence` and one for its latest
 *   `state`; a newer value takes the slot of an undelivered older one, and a slot is
 *   never dropped;
 * - **results**: `command_result`s, never dropped (each ends a queued command);
 * - **discrete**: device `event`s, bounded by what the other lanes leave of `maxBytes`,
 *   dropped oldest first with a fair share per device (DiscreteQueue). A superseded
 *   presence or state moves here as *history*: while everything fits in one batch the
 *   edge still sees every change in order (offline, then online again); under pressure
 *   history is skipped, dropped first like any device event, and forgotten once a newer
 *   value of its device is delivered — it can never arrive after the value that replaced it.
 * Every event carries a sequence number, so a batch goes out in the order events were
 * produced. An event leaves only when it is delivered, refused alone, or dropped.
 */
export class EventBuffer {
  /**
   * Bound: one entry per device with an undelivered presence (≤ devices this node has seen
   * recently: online here, or reported offline and not yet delivered). Map order = seq order,
   * since a replaced entry is deleted and set again.
   */
  readonly #presence = new Map<string, BufferedEvent>();
  /** Bound: as #presence, for states; each ≤ MAX_EVENT_BYTES (a device payload ≤ MAX_PAYLOAD_BYTES). */
  readonly #state = new Map<string, BufferedEvent>();
  /** Bound: one per queued command whose result awaits delivery (≤ maxQueuedPerDevice per device). */
  readonly #results = new Set<BufferedEvent>();
  readonly #discrete = new DiscreteQueue();
  #latestBytes = 0;
  #resultBytes = 0;
  #seq = 0;

  constructor(readonly maxBytes: number) {}

  /** Events held (any lane, in flight included). */
  get length(): number {
    return this.#presence.size + this.#state.size + this.#results.size + this.#discrete.length;
  }

  /** Bytes held, by lane. */
  get bytes(): { latest: number; results: number; events: number; total: number } {
    const events = this.#discrete.bytes;
    return {
      latest: this.#latestBytes,
      results: this.#resultBytes,
      events,
      total: this.#latestBytes + this.#resultBytes + events,
    };
  }

  push(event: EncodedEvent): PushEffect {
    const item: BufferedEvent = { seq: this.#seq++, event };
    switch (event.lane) {
      case "presence":
      case "state": {
        const slots = event.lane === "presence" ? this.#presence : this.#state;
        const older = slots.get(event.deviceId);
        if (older) {
          slots.delete(event.deviceId);
          this.#latestBytes -= older.event.bytes;
          this.#discrete.append(older.seq, older.event);
        }
        slots.set(event.deviceId, item);
        this.#latestBytes += event.bytes;
        break;
      }
      case "result":
        this.#results.add(item);
        this.#resultBytes += event.bytes;
        break;
      case "discrete":
        this.#discrete.append(item.seq, event);
        break;
    }
    const shrunk = this.#discrete.shrinkTo(this.#discreteBudget(), event.deviceId);
    return { coalesced: shrunk.superseded, dropped: shrunk.dropped };
  }

  /** True while `item` is held (not dropped or removed; a superseded value is held as history). */
  holds(item: BufferedEvent): boolean {
    if (this.#discrete.owns(item)) return this.#discrete.has(item);
    switch (item.event.lane) {
      case "presence":
        return this.#presence.get(item.event.deviceId) === item;
      case "state":
        return this.#state.get(item.event.deviceId) === item;
      case "result":
        return this.#results.has(item);
      case "discrete":
        return this.#discrete.has(item);
    }
  }

  /**
   * The next batch: at most `maxEvents` events whose JSON, comma-joined, fits in
   * `maxBodyBytes` less the envelope. When everything fits it all goes, history
   * included, in order. When it does not, latest values come first, then results, then
   * device events (history skipped): after an outage the edge hears every device's
   * current presence and state in the first request(s), ahead of any backlog. The
   * chosen events go in sequence order.
   */
  nextBatch(maxBodyBytes: number, maxEvents: number): BufferedEvent[] {
    const budget = maxBodyBytes - BATCH_ENVELOPE_BYTES;
    const total = this.bytes.total + Math.max(0, this.length - 1);
    const everything = this.length <= maxEvents && total <= budget;
    const chosen: BufferedEvent[] = [];
    let used = 0;
    const take = (items: Iterable<BufferedEvent>): boolean => {
      for (const item of items) {
        if (!everything && this.#discrete.owns(item) && item.event.lane !== "discrete") continue;
        const cost = item.event.bytes + (chosen.length > 0 ? 1 : 0);
        // The first event always goes, even one above the budget (only if maxBodyBytes was set
        // below MAX_EVENT_BYTES): the edge's 413 then drops it alone instead of stalling the queue.
        if (chosen.length > 0 && (chosen.length >= maxEvents || used + cost > budget)) return false;
        chosen.push(item);
        used += cost;
      }
      return true;
    };
    const latest = mergeBySeq([...this.#presence.values()], [...this.#state.values()]);
    if (take(latest) && take(this.#results)) take(this.#discrete);
    return chosen.sort((a, b) => a.seq - b.seq);
  }

  /**
   * Removes delivered (or refused) items still held; a delivered latest value also
   * takes its device's older history of that lane with it. Returns how many history
   * values went that way.
   */
  remove(items: Iterable<BufferedEvent>): number {
    let forgotten = 0;
    for (const item of items) {
      const { lane, deviceId, bytes } = item.event;
      if (!this.holds(item)) {
        // A latest value sent while a newer one took its slot now waits as history: it is delivered.
        if ((lane === "presence" || lane === "state") && !this.#discrete.owns(item))
          this.#discrete.removeHistory(deviceId, lane, item.seq + 1);
        continue;
      }
      if (this.#discrete.owns(item)) {
        this.#discrete.remove(item);
      } else if (lane === "result") {
        this.#results.delete(item);
        this.#resultBytes -= bytes;
      } else {
        (lane === "presence" ? this.#presence : this.#state).delete(deviceId);
        this.#latestBytes -= bytes;
        forgotten += this.#discrete.removeHistory(deviceId, lane, item.seq);
      }
    }
    return forgotten;
  }

  clear(): number {
    const removed = this.length;
    this.#presence.clear();
    this.#state.clear();
    this.#results.clear();
    this.#discrete.clear();
    this.#latestBytes = 0;
    this.#resultBytes = 0;
    return removed;
  }

  /** Discrete events get what the lanes that are never dropped leave of the budget. */
  #discreteBudget(): number {
    return Math.max(0, this.maxBytes - this.#latestBytes - this.#resultBytes);
  }
}

/** Two seq-ordered lists as one seq-ordered list. */
function mergeBySeq(a: BufferedEvent[], b: BufferedEvent[]): BufferedEvent[] {
  const out: BufferedEvent[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const left = a[i];
    const right = b[j];
    if (right === undefined || (left !== undefined && left.seq < right.seq)) {
      if (left) out.push(left);
      i++;
    } else {
      out.push(right);
      j++;
    }
  }
  return out;
}
