import { describe, expect, it } from "vitest";
import { mallocArenaAdvice } from "../../broker/src/diagnostics/malloc.js";
import { fitLine, liveDataPoints, slopeVerdict } from "../../soak/analysis.js";
import type { Sample } from "../../soak/sampler.js";

const MB = 2 ** 20;

/** Samples every 10 s for 30 min: data flat at 100 MB, V8 code warming from 6 to 8 MB. */
function warmingSamples(dataSlopeBytesPerS = 0): Sample[] {
  return Array.from({ length: 181 }, (_, i) => {
    const t = i * 10;
    const code = 6 * MB + 2 * MB * (1 - Math.exp(-t / 900));
    const data = 100 * MB + dataSlopeBytesPerS * t + ((i * 7919) % 13) * 1024; // a little noise
    return {
      t,
      rss: data + code + 20 * MB,
      heapUsed: null,
      external: null,
      arrayBuffers: null,
      clients: 200,
      persistentSessions: 200,
      pendingCommands: 0,
      forwarderQueue: 0,
      liveRss: data + code,
      liveHeap: 20 * MB + code,
      liveCode: code,
    };
  });
}

describe("the soak's gate: RSS after full GC less V8 code", () => {
  it("passes a run whose only growth is the JIT's warm-up, which the raw RSS would call a leak", () => {
    const samples = warmingSamples();
    const raw = fitLine(
      samples.map((s) => ({ t: s.t, y: s.liveRss ?? 0 })),
      360,
    );
    expect(slopeVerdict(raw, 0.1)).toBe("leak");
    expect(slopeVerdict(fitLine(liveDataPoints(samples), 360), 0.1)).toBe("pass");
  });

  it("still fails data that grows: 0.5 KB/s beside the same warm-up", () => {
    const fit = fitLine(liveDataPoints(warmingSamples(512)), 360);
    expect(slopeVerdict(fit, 0.1)).toBe("leak");
    expect((fit?.slope ?? 0) / 1024).toBeCloseTo(0.5, 1);
  });

  it("has no points (so the gate falls back to RSS after GC) when the broker does not report its code", () => {
    const samples = warmingSamples().map((s) => ({ ...s, liveCode: null }));
    expect(liveDataPoints(samples)).toEqual([]);
  });
});

describe("MALLOC_ARENA_MAX advice at start-up", () => {
  it("speaks only on glibc with the variable unset", () => {
    expect(mallocArenaAdvice({}, "2.36")).toMatch(/MALLOC_ARENA_MAX=2/);
    expect(mallocArenaAdvice({ MALLOC_ARENA_MAX: "" }, "2.36")).toMatch(/unset/);
    expect(mallocArenaAdvice({ MALLOC_ARENA_MAX: "2" }, "2.36")).toBeNull();
    expect(mallocArenaAdvice({}, null)).toBeNull();
  });
});
