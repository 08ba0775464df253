import { describe, expect, it } from "vitest";
import { describeStep, type KneeStep, kneeOf, kneeRates, stepHeld } from "../../bench/lib/overload/knee.js";
import type { Sample } from "../../bench/lib/overload/open-loop.js";
import { failedByStatus } from "../../bench/lib/overload/samples.js";

const step = (rate: number, p99: number | null, ok = rate * 5, sent = rate * 5): KneeStep => ({
  rate,
  sent,
  ok,
  p99,
});

describe("the overload leg's knee, measured in the run (issue 17: multiples of the measured knee)", () => {
  it("ramps from 500/s by a quarter a step, in round rates, up to the last", () => {
    const rates = kneeRates({ from: 500, factor: 1.25, upTo: 4_000 });
    expect(rates).toEqual([500, 650, 800, 1000, 1200, 1550, 1900, 2400, 3000, 3750]);
    expect(kneeRates().at(-1)).toBeLessThanOrEqual(16_000);
  });

  it("is the highest rate held before two misses in a row: a non-200, or p99 over 50 ms", () => {
    expect(kneeOf([step(500, 3), step(650, 4), step(800, 51), step(1000, 52), step(1200, 5)])).toBe(650);
    // One miss alone is noise: the ramp goes on, and a higher rate that held is the knee.
    expect(kneeOf([step(500, 3), step(650, 78), step(800, 5), step(1000, 60), step(1200, 70)])).toBe(800);
    expect(kneeOf([step(500, 3), step(650, 4, 3_249), step(800, 4, 3_999)])).toBe(500);
    expect(kneeOf([step(500, 3), step(650, 50)])).toBe(650);
  });

  it("is null when no step held, and a step without a 200 never holds", () => {
    expect(kneeOf([step(500, 80), step(650, 90)])).toBeNull();
    expect(kneeOf([step(500, 80)])).toBeNull();
    expect(kneeOf([])).toBeNull();
    expect(stepHeld(step(500, null, 0))).toBe(false);
    expect(stepHeld({ rate: 500, sent: 0, ok: 0, p99: 1 })).toBe(false);
  });

  it("describes a step for the log and the section", () => {
    expect(describeStep(step(1_250, 3.14))).toBe("1,250/s all 200 · p99 3.1 ms");
    expect(describeStep(step(500, null, 0))).toBe("500/s 0 of 2500 200 · p99 –");
  });
});

describe("the overload leg's failures, by status", () => {
  it("counts what was neither a 200 nor a 429/503 refusal, 0 for no answer", () => {
    const sample = (status: number): Sample => ({
      dueMs: 0,
      latencyMs: 1,
      lateMs: 0,
      waitedMs: 0,
      status,
      retryAfter: null,
    });
    const samples = [200, 503, 429, 0, 504, 504, 0, 500, 200].map(sample);
    expect(failedByStatus(samples)).toEqual({ "0": 2, "504": 2, "500": 1 });
    expect(failedByStatus([200, 503].map(sample))).toEqual({});
  });
});
