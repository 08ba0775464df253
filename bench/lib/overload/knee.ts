/**
 * The overload leg's knee, measured in the run (issue 17, "offered 0.5×, 1×, 2×, 4× of the
 * measured knee"): this machine's speed moved 2–3× within an hour (docs/BENCHMARKS.md,
 * "Overload on a slow afternoon"), so a fixed `--knee` made "2×" anything from twice the
 * sustainable rate to four times the capacity.
 */
import { type OpenLoopTarget, openLoop, type Sample } from "./open-loop.js";
import { summarize } from "./samples.js";

/** What a knee step must meet (issue 14, criterion 3): every command a 200 and p99 ≤ 50 ms. */
export const KNEE_P99_MS = 50;
/** The ramp: from this rate up by this factor a step, each held this long, at most up to the last. */
export const KNEE_RAMP = { from: 500, factor: 1.25, seconds: 5, upTo: 16_000, leadSeconds: 3 } as const;

export interface KneeStep {
  rate: number;
  sent: number;
  ok: number;
  /** p99 of the 200s (ms), null when none. */
  p99: number | null;
}

/** The rates of the ramp, rounded to 50/s: 500, 650, 800, 1,000, 1,200, 1,550, … up to `upTo`. */
export function kneeRates(ramp: { from: number; factor: number; upTo: number } = KNEE_RAMP): number[] {
  const rates: number[] = [];
  for (let rate = ramp.from; rate <= ramp.upTo; rate *= ramp.factor) {
    const rounded = Math.round(rate / 50) * 50;
    if (rates.at(-1) !== rounded) rates.push(rounded);
  }
  return rates;
}

/** Whether a step held: every command answered 200, p99 within the limit. */
export function stepHeld(step: KneeStep, p99LimitMs = KNEE_P99_MS): boolean {
  return step.sent > 0 && step.ok === step.sent && step.p99 !== null && step.p99 <= p99LimitMs;
}

/**
 * The knee: the highest rate held before two steps in a row missed; null when none held. One
 * miss alone is noise on this machine (a 78 ms p99 at 800/s between 650/s at 7.9 ms and rates
 * the broker served whole at 2× of it, 2026-11-30), so the ramp goes on after it.
 */
export function kneeOf(steps: KneeStep[], p99LimitMs = KNEE_P99_MS): number | null {
  let knee: number | null = null;
  let missedBefore = false;
  for (const step of steps) {
    const held = stepHeld(step, p99LimitMs);
    if (held) knee = step.rate;
    else if (missedBefore) break;
    missedBefore = !held;
  }
  return knee;
}

/** One line per step for the log and the section: "1,250/s all 200 · p99 3.1 ms". */
export function describeStep(step: KneeStep): string {
  const p99 = step.p99 === null ? "–" : `${step.p99.toFixed(1)} ms`;
  const ok = step.ok === step.sent ? "all 200" : `${step.ok} of ${step.sent} 200`;
  return `${step.rate.toLocaleString("en-US")}/s ${ok} · p99 ${p99}`;
}

/**
 * Ramps open-loop commands through `target` (the broker as configured, admission control
 * on) at each of `rates` for `seconds`, back to back, until two steps in a row miss; returns
 * every step judged and the knee. The ramp never pauses: a rate reached from idle starts
 * with an onset (the first 100–400 ms answer at p99 100+ ms even at half the knee,
 * docs/BENCHMARKS.md), which would decide a 5 s step's p99; so a lead-in at the first rate,
 * not judged, comes first, and each step follows the last by a quarter more.
 */
export async function findKnee(
  target: OpenLoopTarget,
  log: (line: string) => void,
  rates = kneeRates(),
  seconds: number = KNEE_RAMP.seconds,
): Promise<{ knee: number | null; steps: KneeStep[] }> {
  const steps: KneeStep[] = [];
  await target.pool.fill();
  const lead = openLoop(target, rates[0] ?? KNEE_RAMP.from, KNEE_RAMP.leadSeconds);
  // Bound: one promise per step (and the lead-in); all are awaited before returning.
  const running: Array<Promise<unknown>> = [lead.answered];
  await lead.sent;
  let previous: { rate: number; answered: Promise<Sample[]> } | null = null;
  let missedBefore = false;
  for (const rate of [...rates, null]) {
    const run = rate === null ? null : openLoop(target, rate, seconds);
    if (run) running.push(run.answered);
    if (previous) {
      const { sent, ok, p99 } = summarize(1, previous.rate, seconds, await previous.answered);
      const step = { rate: previous.rate, sent, ok, p99 };
      steps.push(step);
      log(`  knee ramp: ${describeStep(step)}`);
      const missed = !stepHeld(step);
      if (missed && missedBefore) break;
      missedBefore = missed;
    }
    if (!run || rate === null) break;
    await run.sent;
    previous = { rate, answered: run.answered };
  }
  await Promise.all(running);
  return { knee: kneeOf(steps), steps };
}
