/**
 * The soak's verdict without luck (issue 18): the warm-up is estimated from the data,
 * not taken as a fixed share of the run, and a run that ends inside it says so instead
 * of calling warm-up a leak. docs/MEMORY.md, "Warm-up from the data", explains it.
 */
import { fitLine, type LinearFit, type SlopeVerdict, slopeVerdict } from "./analysis.js";

export interface Point {
  t: number;
  y: number;
}

export interface WarmupOptions {
  /** The warm-up is never shorter than this (the fleet ramps up and connects), seconds. */
  minSeconds: number;
  /**
   * The straight part must be seen for at least this long to be believed, seconds. Ten
   * minutes: with five, the recorded pass in docs/soak.json cut at 8 minutes read as a
   * 4.5 KB/s leak (its two halves too noisy to show the bend).
   */
  minTailSeconds: number;
  /**
   * Two slopes closer than this (bytes/s) are the same line however precise they are:
   * a bend smaller than half the gate's limit cannot turn its verdict.
   */
  toleranceBps: number;
  /** Fewest points in each half of the tail. */
  minPointsPerHalf: number;
}

export const WARMUP_DEFAULTS: WarmupOptions = {
  minSeconds: 60,
  minTailSeconds: 600,
  toleranceBps: 0.05 * 1024,
  minPointsPerHalf: 6,
};

/** The defaults with the fit starting no earlier than the end of the priming (--prime), seconds. */
export function warmupOptions(primeSeconds: number): WarmupOptions {
  return { ...WARMUP_DEFAULTS, minSeconds: Math.max(WARMUP_DEFAULTS.minSeconds, primeSeconds) };
}

/** The two halves of what follows `from`: fitted apart, do they make one straight line? */
export function halvesAgree(points: Point[], from: number, options: WarmupOptions): boolean | null {
  const tail = points.filter((p) => p.t >= from);
  const last = tail.at(-1);
  if (!last || last.t - from < options.minTailSeconds) return null;
  const mid = from + (last.t - from) / 2;
  const first = tail.filter((p) => p.t < mid);
  const second = tail.filter((p) => p.t >= mid);
  if (first.length < options.minPointsPerHalf || second.length < options.minPointsPerHalf) return null;
  const a = fitLine(first, from);
  const b = fitLine(second, mid);
  if (!a || !b) return null;
  const twoStdErrors = 2 * Math.hypot(a.slopeStdError, b.slopeStdError);
  return Math.abs(a.slope - b.slope) <= Math.max(twoStdErrors, options.toleranceBps);
}

/**
 * When the series levels off into a straight line (flat or not), in seconds; null when
 * the run ended before that. A warm-up bends: memory rises fast, then slower, then at
 * its lasting rate (zero, or a leak's). For each candidate start w (minSeconds, then
 * every sample's time), the rest of the run is cut in two halves and a line fitted to
 * each; the warm-up ends at the first w where both slopes agree — within two combined
 * standard errors, or within `toleranceBps` — with at least `minTailSeconds` after w.
 * A leak is a straight line too: it is not mistaken for warm-up, it is what the fit
 * after w measures.
 *
 * @example estimateWarmup(flatWithNoise) // 60 (minSeconds): nothing bends
 */
export function estimateWarmup(points: Point[], options: WarmupOptions = WARMUP_DEFAULTS): number | null {
  return firstStraightStart(points, options, () => true);
}

/**
 * The first candidate start (minSeconds, then every sample's time) after which the halves
 * agree (halvesAgree) and `accept(from)` holds; null when too little is left after it.
 */
function firstStraightStart(
  points: Point[],
  options: WarmupOptions,
  accept: (from: number) => boolean,
): number | null {
  const candidates = [options.minSeconds, ...points.map((p) => p.t).filter((t) => t > options.minSeconds)];
  for (const from of candidates) {
    const agree = halvesAgree(points, from, options);
    if (agree === null) {
      // Too little left after `from`: every later candidate has even less.
      const last = points.at(-1);
      if (!last || last.t - from < options.minTailSeconds) return null;
      continue;
    }
    if (agree && accept(from)) return from;
  }
  return null;
}

/**
 * When the series has levelled off into a flat line, seconds; null when the run ended
 * before that. As estimateWarmup, and the line after w must also rise no faster than
 * `toleranceBps` (half the gate's limit). For the heap after full GC less V8's code:
 * JS data should not grow at all, and its slow warm-up (V8's metadata for the JIT's code,
 * docs/MEMORY.md) is a straight-looking climb of 0.1–0.3 KB/s for most of the first hour
 * that the halves test alone cannot tell from a line.
 */
export function estimateLevel(points: Point[], options: WarmupOptions = WARMUP_DEFAULTS): number | null {
  return firstStraightStart(points, options, (from) => {
    const fit = fitLine(points, from);
    return fit !== null && fit.slope <= options.toleranceBps;
  });
}

/** Which series had not levelled off: the gated one, V8's code, the heap after GC less code. */
export type Bending = "gated" | "code" | "heap";

export interface GateResult {
  verdict: SlopeVerdict;
  /** The run ended before the gated series, V8's code or the heap levelled off. */
  warmingUp: boolean;
  /** Where the fit starts, seconds; with `warmingUp`, the end of the run. */
  warmupSeconds: number;
  /** Estimated from the data (true) or given by --warmup (false). */
  estimated: boolean;
  /** Which series had not levelled off (warming up), for the message. */
  stillBending: Bending[];
  /** The gated series' fit after the warm-up; null when warming up or too few points. */
  fit: LinearFit | null;
  /** A rise after the warm-up that ends below the level held during it: not called a leak. */
  belowEarlierLevel?: boolean;
  /**
   * The heap after GC less code over its straight part (null without heap readings or
   * while it bends): with `stillBending` "heap", it is straight but still rising.
   */
  heapFit?: LinearFit | null;
}

/** What the gate reads: the gated series, V8's code, and the heap after full GC less code. */
export interface GateSeries {
  gated: Point[];
  code: Point[] | null;
  /** Heap after full GC less V8's code; null or absent when the broker or run has none. */
  heap?: Point[] | null;
}

/**
 * The soak's gate: with `fixedWarmupSeconds` (--warmup) a fit after it, as before; else
 * the warm-up lasts until three series have levelled off — the gated series and V8's code
 * into a straight line (code is the JIT, the clearest sign of warm-up; it is not gated,
 * but while it bends the run is still warming up), and the heap after full GC less code
 * into a flat one (its slow warm-up is inside the gated series, under the RSS's noise).
 * A run that ends inside the warm-up is `inconclusive` with `warmingUp`: never a pass.
 * One exception keeps a leak a leak: a heap that climbs in a straight line is not warm-up
 * the data can show; when the gated fit after it exceeds the limit, that is a leak.
 */
export function gateVerdict(
  series: GateSeries,
  limitKbps: number,
  fixedWarmupSeconds: number | null,
  options: WarmupOptions = WARMUP_DEFAULTS,
): GateResult {
  if (fixedWarmupSeconds !== null) {
    const fit = fitLine(series.gated, fixedWarmupSeconds);
    return {
      verdict: slopeVerdict(fit, limitKbps),
      warmingUp: false,
      warmupSeconds: fixedWarmupSeconds,
      estimated: false,
      stillBending: [],
      fit,
    };
  }
  const gatedEnd = estimateWarmup(series.gated, options);
  const codeEnd = series.code === null || series.code.length === 0 ? 0 : estimateWarmup(series.code, options);
  const heap = series.heap ?? null;
  const hasHeap = heap !== null && heap.length > 0;
  const heapEnd = hasHeap ? estimateLevel(heap, options) : 0;
  // A heap that has not levelled off but is straight (rising): a leak or a warm-up too slow to see bend.
  const heapLine = hasHeap && heapEnd === null ? estimateWarmup(heap, options) : null;
  const heapFit = hasHeap ? fitLine(heap, heapEnd ?? heapLine ?? Number.POSITIVE_INFINITY) : null;
  const stillBending: Bending[] = [
    ...(gatedEnd === null ? (["gated"] as const) : []),
    ...(codeEnd === null ? (["code"] as const) : []),
    ...(heapEnd === null ? (["heap"] as const) : []),
  ];
  const warmingUp = (result: Partial<GateResult> = {}): GateResult => ({
    verdict: "inconclusive",
    warmingUp: true,
    warmupSeconds: series.gated.at(-1)?.t ?? 0,
    estimated: true,
    stillBending,
    fit: null,
    heapFit,
    ...result,
  });
  if (gatedEnd === null || codeEnd === null) return warmingUp();
  const warmupSeconds = Math.max(gatedEnd, codeEnd, heapEnd ?? heapLine ?? 0);
  const fit = fitLine(series.gated, warmupSeconds);
  let verdict = slopeVerdict(fit, limitKbps);
  const belowEarlierLevel =
    verdict === "leak" && fit !== null && stillBelowEarlierLevel(series.gated, fit, options);
  if (belowEarlierLevel) verdict = "inconclusive";
  if (heapEnd === null) {
    // Still warming up (heap) — unless the heap is a straight climb and the gate sees a leak.
    if (heapLine === null || verdict !== "leak") return warmingUp();
  }
  return {
    verdict,
    warmingUp: false,
    warmupSeconds,
    estimated: true,
    stillBending,
    fit,
    belowEarlierLevel,
    heapFit,
  };
}

/**
 * Whether a rise after the warm-up has not yet come back to the level the series already
 * held during the warm-up (after the fleet's ramp). glibc hands freed memory back in
 * steps and then refills it: a run whose warm-up ends at such a drop sees the refill as a
 * straight climb. Memory returning to a level it had is no evidence of unbounded growth,
 * so that is not called a leak (issue 18: a 30-minute glibc run, 13.4 min warm-up ending
 * at a 4 MB drop, then 1.2 KB/s of refill still 4 MB below its earlier level).
 */
function stillBelowEarlierLevel(points: Point[], fit: LinearFit, options: WarmupOptions): boolean {
  const before = points.filter((p) => p.t >= options.minSeconds && p.t < fit.fromSeconds);
  const last = points.at(-1);
  if (before.length === 0 || !last) return false;
  // The level held: the median, not the highest reading — one spike during the fleet's ramp
  // (a recorded 2-hour run: 109.3 MB at 2.4 min, 104–106 MB after) would hide a leak for hours.
  const sorted = before.map((p) => p.y).sort((a, b) => a - b);
  const earlierLevel = sorted[Math.floor(sorted.length / 2)] ?? Number.POSITIVE_INFINITY;
  return fit.intercept + fit.slope * last.t <= earlierLevel;
}

/** Runs shorter than this show no 30-hour column: a few minutes' slope says nothing about a day. */
export const MIN_EXTRAPOLATION_SECONDS = 20 * 60;

/** Whether the report may extrapolate the fitted slope to 30 hours. */
export function extrapolationAllowed(gate: GateResult, runSeconds: number): boolean {
  return !gate.warmingUp && gate.fit !== null && runSeconds >= MIN_EXTRAPOLATION_SECONDS;
}
