/**
 * Time, injected. Everything in the broker that depends on time (command
 * timeouts, expiresAt, session expiry, the reaper) reads it from a Clock so
 * tests can move time instead of sleeping. Aedes's own keepalive and connect
 * timers use Node's timers: they are socket-level and tested in real time.
 */
export type TimerHandle = unknown;

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  setInterval(fn: () => void, ms: number): TimerHandle;
  clearInterval(handle: TimerHandle): void;
}

function unrefIfPossible(handle: unknown): void {
  if (typeof handle === "object" && handle !== null && "unref" in handle) {
    const unref = (handle as { unref: unknown }).unref;
    if (typeof unref === "function") unref.call(handle);
  }
}

/** The real clock. Interval timers are unref'd: they never keep a process alive. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  setInterval: (fn, ms) => {
    const handle = setInterval(fn, ms);
    unrefIfPossible(handle);
    return handle;
  },
  clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout),
};

/**
 * Wraps a clock and counts the timers alive through it, so leak tests can
 * assert that every timer the broker starts is also stopped.
 */
export class TrackedClock implements Clock {
  readonly #inner: Clock;
  /** Bound: one entry per live timer; entries leave when the timer fires or is cleared. */
  readonly #live = new Set<TimerHandle>();

  constructor(inner: Clock) {
    this.#inner = inner;
  }

  get liveTimers(): number {
    return this.#live.size;
  }

  now(): number {
    return this.#inner.now();
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const handle = this.#inner.setTimeout(() => {
      this.#live.delete(handle);
      fn();
    }, ms);
    this.#live.add(handle);
    return handle;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#live.delete(handle);
    this.#inner.clearTimeout(handle);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    const handle = this.#inner.setInterval(fn, ms);
    this.#live.add(handle);
    return handle;
  }

  clearInterval(handle: TimerHandle): void {
    this.#live.delete(handle);
    this.#inner.clearInterval(handle);
  }
}

/**
 * A clock for tests: time moves only when `advance` is called, and timers due
 * by then fire in order.
 *
 * @example
 *   const clock = new ManualClock(1_700_000_000_000);
 *   clock.setTimeout(() => console.log("fired"), 1000);
 *   clock.advance(1000); // logs "fired"
 */
export class ManualClock implements Clock {
  #now: number;
  #nextId = 1;
  /** Bound: one entry per live timer of the code under test. */
  readonly #timers = new Map<number, { at: number; fn: () => void; every: number | null }>();

  constructor(start = Date.UTC(2025, 0, 1)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn, every: null });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    if (typeof handle === "number") this.#timers.delete(handle);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    const id = this.#nextId++;
    const every = Math.max(1, ms);
    this.#timers.set(id, { at: this.#now + every, fn, every });
    return id;
  }

  clearInterval(handle: TimerHandle): void {
    this.clearTimeout(handle);
  }

  /** Moves time forward by `ms`, firing every timer due on the way. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      let dueId: number | undefined;
      let dueAt = Number.POSITIVE_INFINITY;
      for (const [id, timer] of this.#timers) {
        if (timer.at <= target && timer.at < dueAt) {
          dueAt = timer.at;
          dueId = id;
        }
      }
      const timer = dueId === undefined ? undefined : this.#timers.get(dueId);
      if (dueId === undefined || !timer) break;
      this.#now = Math.max(this.#now, timer.at);
      if (timer.every === null) this.#timers.delete(dueId);
      else timer.at += timer.every;
      timer.fn();
    }
    this.#now = target;
  }
}
