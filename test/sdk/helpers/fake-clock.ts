import type { Clock } from "../../../device-sdk/src/index.js";

interface Timer {
  at: number;
  seq: number;
  callback: () => void;
}

/** A clock that moves only when told to; `advance` fires due timers in order. */
export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  readonly #timers = new Map<number, Timer>();
  /** Every delay ever scheduled, in order (for asserting backoff choices). */
  readonly scheduled: number[] = [];

  constructor(start = 1_700_000_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const seq = ++this.#seq;
    this.scheduled.push(ms);
    this.#timers.set(seq, { at: this.#now + ms, seq, callback });
    return seq;
  }

  clearTimeout(handle: unknown): void {
    if (typeof handle === "number") this.#timers.delete(handle);
  }

  get pending(): number {
    return this.#timers.size;
  }

  /** Jumps to the earliest pending timer and fires it alone; returns the time jumped. */
  runNext(): number {
    const next = [...this.#timers.values()].sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
    if (!next) return 0;
    const jumped = next.at - this.#now;
    this.#timers.delete(next.seq);
    this.#now = Math.max(this.#now, next.at);
    next.callback();
    return jumped;
  }

  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      const due = [...this.#timers.values()]
        .filter((timer) => timer.at <= target)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.#timers.delete(due.seq);
      this.#now = due.at;
      due.callback();
    }
    this.#now = target;
  }
}

/** A deterministic PRNG in [0, 1) (mulberry32), so "random" spreads are reproducible. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
