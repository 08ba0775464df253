/**
 * Defaults of the adaptive in-flight limit (COMMAND_LATENCY_TOLERANCE; issue 17). The
 * tolerance is the factor by which the median time of an admitted command may rise over
 * its baseline before the limit shrinks.
 */
export const ADAPTIVE_LIMIT_DEFAULTS = {
  tolerance: 2,
  /** The limit never falls below this many commands in flight. */
  minLimit: 16,
  /** One judgement per window. */
  windowMs: 100,
  /** A window with fewer answers says too little to judge congestion (the limit grows back). */
  minSamples: 10,
  /**
   * A median within this many ms of the baseline is never congestion, whatever the ratio: at a
   * baseline of 1.5 ms, a window at 3.5 ms is noise (a young-generation GC, a JIT tier-up), and
   * shrinking on it refused 0.4–2.3 % of commands at and below the knee (docs/BENCHMARKS.md).
   */
  minSlackMs: 5,
  /** Time constant of the baseline's rise (it falls at once to a lower median). */
  baselineRiseMs: 30_000,
  /** Answers kept per window to take the median from (a reservoir; the rest are counted). */
  maxSamples: 1_024,
  /**
   * A cut leaves no more in flight than this many times what the window's served rate needs
   * at the time the limit tolerates (Little's law): the first cut of a burst lands near the
   * broker's capacity at once instead of halving for half a second (docs/BENCHMARKS.md,
   * "Overload: the limit's onset and its sawtooth").
   */
  littleHeadroom: 2,
  /** For this long after a cut, a limit that binds grows gently (it is probing a known capacity). */
  probeMs: 3_000,
  /** The gentle growth: this share of √limit a window. */
  probeGrowth: 0.25,
} as const;

export interface AdaptiveLimitOptions {
  /** The ceiling, and where the limit starts (MAX_COMMANDS_IN_FLIGHT). */
  max: number;
  min: number;
  /** 0 = off: the limit stays at `max`. */
  tolerance: number;
  windowMs: number;
  minSamples: number;
  baselineRiseMs: number;
  maxSamples: number;
  minSlackMs: number;
  /** A cut leaves at most this × served rate × tolerated time in flight (0 = no such cap). */
  littleHeadroom: number;
  /** After a cut, for this long, a binding limit grows by `probeGrowth` × √limit a window. */
  probeMs: number;
  probeGrowth: number;
  /** ms: the broker's clock (wall time; a step back restarts the window). */
  now: () => number;
  /** Each change of the limit (the `tether_commands_limit` gauge). */
  onLimit?: (limit: number) => void;
}

/**
 * An in-flight limit that follows latency (issue 17), after the gradient limiters of
 * Netflix's concurrency-limits (Gradient2) and TCP Vegas. By Little's law the commands
 * in flight are throughput × time in the broker: past the knee a fixed bound
 * (MAX_COMMANDS_IN_FLIGHT, 2,000) lets each admitted command wait 2,000 / throughput — two
 * thirds of a second at 3,000 commands/s — while the one a fleet needs when its routers are
 * slow (100–300 ms on cellular links) is just as large. So the limit moves instead:
 *
 * - every window (100 ms), the median time of the commands served in it (a 2xx; from
 *   admission to the last byte of the answer, waiting for the router included) is compared with a
 *   baseline: the median when the broker is not congested. The baseline falls at once to a
 *   lower window median and rises only slowly (time constant 30 s), so a fleet whose
 *   routers answer slowly becomes the new baseline, while a burst does not;
 * - past the tolerance (gradient = tolerance × baseline / median < 1, at least 0.5; and the
 *   median more than 5 ms above the baseline) for two windows in a row — one is a pause,
 *   which holds the limit — it falls to the most that was in flight in the window (or the
 *   limit, if lower) × gradient + √ of it: a limit far above what is in flight comes down to
 *   it at once, and one that binds shrinks by up to half a window. And at least as far as
 *   Little's law says, in one step: to at most 2 × the rate the window served × the time the limit
 *   tolerates (the larger of tolerance × baseline and baseline + 5 ms) — at the onset of a
 *   burst the limit stood at the ceiling, and halving from there took five windows while every
 *   router's queue filled;
 * - otherwise (times within the tolerance, or too few answers in the window to tell) it grows
 *   by √limit a window back towards the ceiling: from the floor to 2,000 in about 9 s. So a
 *   limit lowered by a burst, or by a change of the fleet's mix at night, does not stay low
 *   and refuse the morning's first burst. Within 3 s of a cut, while the limit still binds
 *   (as much was in flight as it allowed), it grows by only ¼ √limit a window: it is probing
 *   a capacity it has just met, and full steps overshot it every few windows (a sawtooth whose
 *   peaks were the accepted commands' p99). A limit that does not bind (the burst is over)
 *   grows back at full speed.
 *
 * The median, not the mean: a few commands waiting out their router's `timeoutMs`
 * (half-open routers) must not shrink everyone's limit. Bounds: one window's samples
 * (`maxSamples`, a reservoir), a few numbers otherwise.
 */
export class AdaptiveLimit {
  readonly #options: AdaptiveLimitOptions;
  #limit: number;
  /** ms; NaN until the first judged window (0 is a real median on a whole-millisecond clock). */
  #baseline = Number.NaN;
  #windowStart: number;
  readonly #samples: number[] = [];
  #seen = 0;
  #peakInFlight = 0;
  /** Whether the last judged window was congested: the limit falls only on the second in a row. */
  #congestedBefore = false;
  /** ms of the last cut (−∞: none yet). */
  #lastCutAt = Number.NEGATIVE_INFINITY;

  constructor(options: AdaptiveLimitOptions) {
    this.#options = options;
    this.#limit = options.max;
    this.#windowStart = options.now();
  }

  /** Commands that may be in flight now. */
  get limit(): number {
    return Math.floor(this.#limit);
  }

  /** The baseline median, ms (0 before the first judged window). */
  get baselineMs(): number {
    return Number.isNaN(this.#baseline) ? 0 : this.#baseline;
  }

  /** An admission: the count in flight with it. Returns the admission's time, for `answered`. */
  admitted(inFlight: number): number {
    if (inFlight > this.#peakInFlight) this.#peakInFlight = inFlight;
    return this.#options.now();
  }

  /** A command admitted at `admittedAt` (from `admitted`) was served; `inFlight` counts it still. */
  answered(admittedAt: number, inFlight: number): void {
    if (inFlight > this.#peakInFlight) this.#peakInFlight = inFlight;
    const now = this.#options.now();
    const ms = now - admittedAt;
    // A clock stepped back (the injected clock is wall time) starts the window again rather
    // than freezing the limit until the clock catches up.
    if (now < this.#windowStart) this.#windowStart = now;
    else if (now - this.#windowStart >= this.#options.windowMs) this.#judge(now);
    this.#seen++;
    if (this.#samples.length < this.#options.maxSamples) this.#samples.push(ms);
    else {
      const slot = Math.floor(Math.random() * this.#seen);
      if (slot < this.#options.maxSamples) this.#samples[slot] = ms;
    }
  }

  #judge(now: number): void {
    const { tolerance, minSamples, baselineRiseMs, minSlackMs, min, max } = this.#options;
    const elapsed = now - this.#windowStart;
    const peak = this.#peakInFlight;
    const served = this.#seen;
    /** The time (ms) a command may take before the window reads as congested. */
    let tolerated = Number.POSITIVE_INFINITY;
    this.#windowStart = now;
    this.#peakInFlight = 0;
    let gradient = 1;
    if (tolerance > 0 && this.#samples.length >= minSamples) {
      const median = medianOf(this.#samples);
      if (Number.isNaN(this.#baseline) || median < this.#baseline) this.#baseline = median;
      else this.#baseline += (1 - Math.exp(-elapsed / baselineRiseMs)) * (median - this.#baseline);
      if (median - this.#baseline > minSlackMs)
        gradient = Math.max(0.5, Math.min(1, (tolerance * this.#baseline) / median));
      tolerated = Math.max(tolerance * this.#baseline, this.#baseline + minSlackMs);
    }
    this.#reset();
    const congested = gradient < 1;
    const sustained = congested && this.#congestedBefore;
    this.#congestedBefore = congested;
    // One congested window (a pause) holds the limit; the second in a row lowers it.
    if (congested && !sustained) return;
    let next: number;
    if (sustained) {
      const used = Math.min(this.#limit, Math.max(peak, 1));
      next = used * gradient + Math.sqrt(used);
      const { littleHeadroom } = this.#options;
      // Little's law: in flight = throughput × time. `elapsed` > 0: a window is judged after windowMs.
      if (littleHeadroom > 0) next = Math.min(next, littleHeadroom * (served / elapsed) * tolerated);
      this.#lastCutAt = now;
    } else {
      const { probeMs, probeGrowth } = this.#options;
      const sinceCut = now - this.#lastCutAt;
      // A clock stepped back (sinceCut < 0) ends the probing rather than stretching it.
      const probing = peak >= this.limit && sinceCut >= 0 && sinceCut < probeMs;
      next = this.#limit + (probing ? probeGrowth : 1) * Math.sqrt(this.#limit);
    }
    next = Math.max(min, Math.min(max, next));
    const changed = Math.floor(next) !== this.limit;
    this.#limit = next;
    if (changed) this.#options.onLimit?.(this.limit);
  }

  #reset(): void {
    this.#samples.length = 0;
    this.#seen = 0;
  }
}

/** The median of a non-empty list (sorts it in place). */
function medianOf(values: number[]): number {
  values.sort((a, b) => a - b);
  const mid = values.length >> 1;
  return values.length % 2 === 1 ? (values[mid] ?? 0) : ((values[mid - 1] ?? 0) + (values[mid] ?? 0)) / 2;
}
