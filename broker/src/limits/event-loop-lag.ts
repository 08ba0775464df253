import { type IntervalHistogram, monitorEventLoopDelay } from "node:perf_hooks";

/** How often the delay is sampled (ms): Node's histogram times a timer of this period. */
const RESOLUTION_MS = 5;
/** The histogram is reset after this many samples (~14 h), so its running sum stays exact. */
const MAX_SAMPLES_KEPT = 10_000_000;

/**
 * The event loop's current lag: how late a timer of the loop fires, averaged over
 * the last window (issue 17). A request that arrives now waits about this long
 * before the broker reads it, so it is the broker's queueing time: when the CPU
 * cannot keep up, requests pile up in the socket buffers and this climbs. Read
 * it with `lagMs`; it is updated once per window from Node's native histogram
 * (perf_hooks monitorEventLoopDelay), so reading it costs nothing per request.
 *
 * Real time, not the injected Clock: it measures the process, not the protocol.
 */
export class EventLoopLag {
  readonly #histogram: IntervalHistogram;
  readonly #windowMs: number;
  readonly #onWindow: (lagMs: number) => void;
  #timer: NodeJS.Timeout | undefined;
  #windowStart = 0;
  /** The histogram's running count and sum (ns) at the start of the window. */
  #count = 0;
  #sumNs = 0;
  #lagMs = 0;
  #previousLagMs = 0;

  constructor(windowMs: number, onWindow: (lagMs: number) => void = () => {}) {
    this.#windowMs = windowMs;
    this.#onWindow = onWindow;
    this.#histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  }

  /** Lag of the last completed window, in ms (0 before the first one). */
  get lagMs(): number {
    return this.#lagMs;
  }

  /**
   * The smaller of the last two windows' lags: high only when the loop has lagged for
   * two windows in a row, so one pause (a major GC, a heap snapshot) does not count.
   */
  get sustainedLagMs(): number {
    return Math.min(this.#lagMs, this.#previousLagMs);
  }

  start(): void {
    if (this.#timer) return;
    this.#histogram.enable();
    this.#windowStart = performance.now();
    const tick = () => {
      this.#sample();
      this.#timer = setTimeout(tick, this.#windowMs);
      this.#timer.unref();
    };
    this.#timer = setTimeout(tick, this.#windowMs);
    this.#timer.unref();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#histogram.disable();
  }

  #sample(): void {
    const now = performance.now();
    // The window timer is itself late by the lag; a window stretched that far held a
    // loop turn at least that long, which the histogram may not have recorded yet.
    const late = Math.max(0, now - this.#windowStart - this.#windowMs);
    this.#windowStart = now;
    // The window's own mean, from the running totals: a reset() would drop the sample that
    // spans it (Node skips the first delay after a reset), which is often the long one.
    const count = this.#histogram.count;
    const sumNs = count > 0 ? this.#histogram.mean * count : 0;
    const samples = count - this.#count;
    const recorded = samples > 0 ? (sumNs - this.#sumNs) / samples / 1e6 - RESOLUTION_MS : 0;
    this.#count = count;
    this.#sumNs = sumNs;
    if (count > MAX_SAMPLES_KEPT) {
      this.#histogram.reset();
      this.#count = 0;
      this.#sumNs = 0;
    }
    this.#previousLagMs = this.#lagMs;
    this.#lagMs = Math.max(0, recorded, late);
    this.#onWindow(this.#lagMs);
  }
}
