/**
 * Fleet jobs (issue 16), the pacer on its own (edge/src/jobs/pacing.ts): at most
 * `ratePerSecond` commands start at the routers in any second, whatever the ticks' and the
 * deliveries' lateness, and the rate it keeps. Each case simulates a job's dispatch loop as
 * FleetJob runs it (wake at the later of the next tick and the pacer's next slot, a slice,
 * answers handed to the pacer when they come back) on a clock of its own.
 */
import { describe, expect, it } from "vitest";
import { HOLD_MS, keptRate, MARGIN_MS, Pacer, type Place, TICK_MS } from "../../edge/src/jobs/pacing.js";
import { maxPerWindow } from "../../scripts/lib/rate-window.js";

/** A deterministic generator in [0, 1) (tests must not depend on luck). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

interface Command {
  /** When the router starts it, after `sent`. */
  runsAfter: number;
  /** When its answer is back at the job, after `sent` (null: never). */
  answeredAfter: number | null;
}

interface Simulation {
  rate: number;
  durationMs: number;
  /** The i-th command's delivery and answer. */
  command: (i: number) => Command;
  /** Extra lateness of a tick (ms). */
  tickLate?: (tick: number) => number;
}

/** Runs the dispatch loop; returns when each command started at its router. */
function simulate({ rate, durationMs, command, tickLate = () => 0 }: Simulation): number[] {
  const pacer = new Pacer(rate, []);
  const answers: { place: Place; at: number }[] = [];
  const runs: number[] = [];
  let now = 0;
  for (let tick = 0; now < durationMs; tick++) {
    // Answers that came back since the last tick reached the pacer when they came.
    answers.sort((a, b) => a.at - b.at);
    while ((answers[0]?.at ?? Number.POSITIVE_INFINITY) <= now) {
      const answer = answers.shift();
      if (answer) pacer.answered(answer.place, answer.at, true);
    }
    const budget = pacer.budget(now);
    if (budget > 0) pacer.sliced(now);
    for (let n = 0; n < budget; n++) {
      const place = pacer.record(now);
      const { runsAfter, answeredAfter } = command(runs.length);
      runs.push(now + runsAfter);
      if (answeredAfter !== null) answers.push({ place, at: now + Math.max(runsAfter, answeredAfter) });
    }
    now = Math.max(now + TICK_MS, pacer.nextSlot(now)) + tickLate(tick);
  }
  return runs;
}

describe("the job's pacer", () => {
  it("never lets more than ratePerSecond start at the routers in a second, however late the ticks come", () => {
    for (const rate of [1, 7, 100, 1000]) {
      const runs = simulate({
        rate,
        durationMs: 40_000,
        command: () => ({ runsAfter: 0, answeredAfter: 5 }),
        tickLate: (tick) => ((tick * 37) % 5 === 0 ? 400 : (tick * 13) % 90),
      });
      expect(maxPerWindow(runs), `rate ${rate}`).toBeLessThanOrEqual(rate);
      expect(runs.length).toBeGreaterThan(0);
    }
  });

  it("holds the bound when deliveries lag each other by up to HOLD_MS (the rule of a fixed 1.2 s window did not)", () => {
    for (const [rate, seed] of [
      [100, 1],
      [100, 2],
      [37, 3],
      [500, 4],
    ] as const) {
      const next = random(seed);
      // Most commands arrive in 5-30 ms; one in ten is held up 300-950 ms on its way (a
      // stalled process between the edge and the router), and answers quickly once it runs.
      const runs = simulate({
        rate,
        durationMs: 30_000,
        command: () => {
          const runsAfter = next() < 0.1 ? 300 + next() * 650 : 5 + next() * 25;
          return { runsAfter, answeredAfter: runsAfter + 5 };
        },
      });
      expect(maxPerWindow(runs), `rate ${rate}, seed ${seed}`).toBeLessThanOrEqual(rate);
    }
  });

  it("keeps most of the rate for quick answers, and ~83 % when answers take longer than HOLD_MS", () => {
    const rate = 100;
    const durationMs = 60_000;
    const quick = simulate({ rate, durationMs, command: () => ({ runsAfter: 10, answeredAfter: 20 }) });
    expect(quick.length / (durationMs / 1000)).toBeGreaterThan(0.9 * rate);
    expect(maxPerWindow(quick)).toBeLessThanOrEqual(rate);
    expect(keptRate(rate, [20])).toBeCloseTo(rate / 1.07, 0);

    // A handler that downloads for 3 s: its answers say nothing about delivery, so a
    // command's place frees MARGIN_MS + 1 s after it was sent.
    const slow = simulate({ rate, durationMs, command: () => ({ runsAfter: 10, answeredAfter: 3_000 }) });
    const kept = slow.length / (durationMs / 1000);
    expect(kept).toBeGreaterThan(0.75 * rate);
    expect(kept).toBeLessThanOrEqual((rate * 1000) / (1000 + MARGIN_MS) + 2);
    expect(maxPerWindow(slow)).toBeLessThanOrEqual(rate);
    expect(keptRate(rate, [3_000])).toBeCloseTo((rate * 1000) / (1000 + MARGIN_MS), 5);
  });

  it("does not stall when answers never come: a place frees HOLD_MS + 1 s after it was sent", () => {
    const rate = 50;
    const durationMs = 30_000;
    const runs = simulate({ rate, durationMs, command: () => ({ runsAfter: 10, answeredAfter: null }) });
    const expected = (rate * 1000) / (HOLD_MS + 1000);
    expect(runs.length / (durationMs / 1000)).toBeGreaterThan(0.9 * expected);
    expect(maxPerWindow(runs)).toBeLessThanOrEqual(rate);
  });

  it("keeps the places of commands sent before a restart", () => {
    const rate = 10;
    const restored = Array.from({ length: rate }, (_, i) => ({ sentAt: 1_000 + i, answeredAt: null }));
    const pacer = new Pacer(rate, restored);
    expect(pacer.budget(1_100)).toBe(0);
    // Never answered (they went with the old instance): each frees HOLD_MS + 1 s after it was sent.
    expect(pacer.nextSlot(1_100)).toBe(1_100 + TICK_MS);
    expect(pacer.budget(1_000 + HOLD_MS + 1000)).toBe(1);
    const answered = new Pacer(rate, [{ sentAt: 1_000, answeredAt: 1_050 }]);
    expect(answered.rate(1_500)).toBe(1);
    expect(answered.nextSlot(1_500)).toBe(1_500);
    expect(answered.rate(2_060)).toBe(0);
  });
});
