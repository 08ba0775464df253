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
  const candidates = [options.minSeconds, ...points.map((p) => p.t).filter((t) => t > options.minSeconds)];
  for (const from of candidates) {
    const agree = halvesAgree(points, from, options);
    if (agree === null) {
      // Too little left after `from`: every later candidate has even less.
      const last = points.at(-1);
      if (!last || last.t - from < options.minTailSeconds) return null;
      continue;
    }
    if (agree) return from;
  }
  return null;
}

export interface GateResult {
  verdict: SlopeVerdict;
  /** The run ended before the gated series (or V8's code) levelled off. */
  warmingUp: boolean;
  /** Where the fit starts, seconds; with `warmingUp`, the end of the run. */
  warmupSeconds: number;
  /** Estimated from the data (true) or given by --warmup (false). */
  estimated: boolean;
  /** Which series had not levelled off (warming up), for the message. */
  stillBending: string[];
  /** The gated series' fit after the warm-up; null when warming up or too few points. */
  fit: LinearFit | null;
  /** A rise after the warm-up that ends below the level held during it: not called a leak. */
  belowEarlierLevel?: boolean;
}

/**
 * The soak's gate: with `fixedWarmupSeconds` (--warmup) a fit after it, as before; else
 * the warm-up is the later of the gated series' and V8 code's levelling off (code is
 * the JIT, the clearest sign of warm-up; it is not gated, but while it bends the run is
 * still warming up). A run that ends inside the warm-up is `inconclusive` with
 * `warmingUp`: never a leak, never a pass.
 */
export function gateVerdict(
  series: { gated: Point[]; code: Point[] | null },
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
  const stillBending = [...(gatedEnd === null ? ["gated"] : []), ...(codeEnd === null ? ["code"] : [])];
  if (gatedEnd === null || codeEnd === null) {
    return {
      verdict: "inconclusive",
      warmingUp: true,
      warmupSeconds: series.gated.at(-1)?.t ?? 0,
      estimated: true,
      stillBending,
      fit: null,
    };
  }
  const warmupSeconds = Math.max(gatedEnd, codeEnd);
  const fit = fitLine(series.gated, warmupSeconds);
  let verdict = slopeVerdict(fit, limitKbps);
  const belowEarlierLevel =
    verdict === "leak" && fit !== null && stillBelowEarlierLevel(series.gated, fit, options);
  if (belowEarlierLevel) verdict = "inconclusive";
  return { verdict, warmingUp: false, warmupSeconds, estimated: true, stillBending, fit, belowEarlierLevel };
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
  const earlierLevel = Math.max(...before.map((p) => p.y));
  return fit.intercept + fit.slope * last.t <= earlierLevel;
}

/** Runs shorter than this show no 30-hour column: a few minutes' slope says nothing about a day. */
export const MIN_EXTRAPOLATION_SECONDS = 20 * 60;

/** Whether the report may extrapolate the fitted slope to 30 hours. */
export function extrapolationAllowed(gate: GateResult, runSeconds: number): boolean {
  return !gate.warmingUp && gate.fit !== null && runSeconds >= MIN_EXTRAPOLATION_SECONDS;
}
