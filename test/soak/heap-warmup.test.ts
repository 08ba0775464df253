/**
 * Issue 18, "Flat for hours": the warm-up also waits for the heap after full GC less V8's code
 * to level off (soak/warmup.ts, estimateLevel). Its slow climb — V8's metadata for the JIT's
 * code, 0.1–0.3 KB/s for most of the first hour — sat inside six 30-minute fits and left them
 * all inconclusive for the wrong reason; a run that ends inside it now says so.
 */
import { describe, expect, it } from "vitest";
import { gatedSeries } from "../../soak/report.js";
import type { Sample } from "../../soak/sampler.js";
import { extrapolationAllowed, gateVerdict, warmupOptions } from "../../soak/warmup.js";
import { MB, recorded, series, upTo } from "./warmup-series.js";

function gate(samples: Sample[], primeSeconds = 0) {
  const s = gatedSeries(samples);
  return gateVerdict({ gated: s.points, code: s.code, heap: s.heap }, 0.1, null, warmupOptions(primeSeconds));
}

/** The same run without heap readings: what the gate said before it waited for the heap. */
function gateWithoutHeap(samples: Sample[]) {
  const s = gatedSeries(samples);
  return gateVerdict({ gated: s.points, code: s.code }, 0.1, null);
}

/** Adds `bps` bytes/s from `from` seconds to both the RSS and the heap after GC: a JS leak. */
function withJsLeak(samples: Sample[], bps: number, from = 0): Sample[] {
  return samples.map((s) => {
    const extra = s.t > from ? (s.t - from) * bps : 0;
    return {
      ...s,
      liveRss: s.liveRss === null ? null : s.liveRss + extra,
      liveHeap: s.liveHeap === null ? null : s.liveHeap + extra,
    };
  });
}

const twoHours = () => recorded("soak-2h-3b3df92");

// A 2-hour series is 700 points and each candidate start refits the rest: seconds on a loaded machine.
describe("the warm-up waits for the heap after full GC to level off (recorded 2-hour run)", {
  timeout: 60_000,
}, () => {
  it("warm-up then flat: the whole run passes, its fit starting after the heap levelled off", () => {
    const result = gate(twoHours());
    expect(result).toMatchObject({ verdict: "pass", warmingUp: false });
    expect(result.stillBending).toEqual([]);
    expect(result.warmupSeconds).toBeGreaterThan(600);
    expect((result.heapFit?.slope ?? 1) / 1024).toBeLessThanOrEqual(0.05);
  });

  it("a run that ends inside the heap's warm-up (its first 20 minutes) is inconclusive: still warming up (heap)", () => {
    const result = gate(upTo(twoHours(), 1_200));
    expect(result).toMatchObject({ verdict: "inconclusive", warmingUp: true, stillBending: ["heap"] });
    expect((result.heapFit?.slope ?? 0) / 1024).toBeGreaterThan(0.15);
    expect(extrapolationAllowed(result, 1_200)).toBe(false);
    // Before, the gate did not look at the heap: the same minutes were not "warming up".
    expect(gateWithoutHeap(upTo(twoHours(), 1_200)).warmingUp).toBe(false);
  });

  it("warm-up then 0.5 KB/s of JS objects: a leak, not warm-up, and the slope it measures is the leak's", () => {
    const result = gate(withJsLeak(twoHours(), 512, 600));
    expect(result.verdict).toBe("leak");
    // The recorded run's own 0.055 KB/s plus the leak's 0.5, fitted over the same span.
    const own = gate(twoHours()).fit;
    expect(result.fit?.fromSeconds).toBe(own?.fromSeconds);
    expect(((result.fit?.slope ?? 0) - (own?.slope ?? 0)) / 1024).toBeCloseTo(0.5, 2);
    // Its first 30 minutes are too noisy to call it (RSS ± 0.5 KB/s there), but never a pass.
    expect(gate(withJsLeak(upTo(twoHours(), 1_800), 512, 600)).verdict).not.toBe("pass");
  });

  it("the fit never starts before the priming ends", () => {
    const result = gate(twoHours(), 3_000);
    expect(result.warmupSeconds).toBeGreaterThanOrEqual(3_000);
    expect(result.verdict).toBe("pass");
  });
});

describe("the heap's warm-up on synthetic series", () => {
  const quietData = { noise: 50 * 1024, dataWarmMb: 1, dataTau: 60, codeWarmMb: 1, codeTau: 60 };

  it("heap still bending at the end (1 MB with a 15-minute time constant): inconclusive, still warming up (heap)", () => {
    const samples = series({ ...quietData, heap: { warmMb: 1, tau: 900, leakBps: 0, noise: 100 * 1024 } });
    const result = gate(samples);
    expect(result).toMatchObject({ verdict: "inconclusive", warmingUp: true, stillBending: ["heap"] });
    // Without the heap, the flat RSS alone passes: the heap's rise hides under RSS noise.
    expect(gateWithoutHeap(samples).verdict).toBe("pass");
  });

  it("the same heap warm-up, quick (2-minute time constant): levels off, and the run passes", () => {
    const samples = series({ ...quietData, heap: { warmMb: 1, tau: 120, leakBps: 0, noise: 100 * 1024 } });
    expect(gate(samples)).toMatchObject({ verdict: "pass", warmingUp: false, stillBending: [] });
  });

  it("a heap that climbs 0.3 KB/s in a straight line, under a gate that would pass: inconclusive, not a pass", () => {
    const samples = series({ ...quietData, heap: { warmMb: 0, tau: 60, leakBps: 300, noise: 100 * 1024 } });
    const result = gate(samples);
    expect(result).toMatchObject({ verdict: "inconclusive", warmingUp: true, stillBending: ["heap"] });
    expect((result.heapFit?.slope ?? 0) / 1024).toBeCloseTo(0.3, 1);
  });

  it("0.5 KB/s of JS objects after a quick warm-up fails: heap and RSS climb together", () => {
    const samples = series({
      ...quietData,
      leakBps: 512,
      heap: { warmMb: 1, tau: 120, leakBps: 512, noise: 100 * 1024 },
    });
    const result = gate(samples);
    expect(result.verdict).toBe("leak");
    expect(result.stillBending).toEqual(["heap"]);
    expect((result.fit?.slope ?? 0) / 1024).toBeCloseTo(0.5, 1);
  });

  it("noise alone never cries leak with the heap read too: 20 noisy flat runs", () => {
    for (let seed = 1; seed <= 20; seed++) {
      for (const noise of [50 * 1024, 300 * 1024, 1 * MB]) {
        const samples = series({ seed, noise, heap: { warmMb: 1, tau: 300, leakBps: 0, noise: 150 * 1024 } });
        expect(gate(samples).verdict, `seed ${seed}, noise ${noise}`).not.toBe("leak");
      }
    }
  });
});
