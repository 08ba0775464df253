/**
 * Issue 18, part 5: the broker's own memory trend — the slope of its low points per
 * 5-minute window over the last hours, exported as tether_memory_trend_bytes_per_second.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../broker/src/clock.js";
import { MEMORY_TREND_DEFAULTS, MemoryTrend, startMemoryTrend } from "../../broker/src/diagnostics/index.js";

const MIN = 60_000;
const MB = 2 ** 20;

/** Readings every 30 s for `hours`: a GC sawtooth (up to +8 MB of garbage) on a base growing at `leakBps`. */
function feed(trend: MemoryTrend, hours: number, leakBps: number) {
  for (let t = 0; t <= hours * 3_600_000; t += 30_000) {
    const garbage = ((t / 30_000) % 7) * (8 / 6) * MB;
    const base = 40 * MB + (leakBps * t) / 1000;
    trend.record(base + garbage, base + 60 * MB + garbage, t);
  }
}

describe("the broker's memory trend", () => {
  it("measures a slow leak from the low points: 100 B/s under an 8 MB sawtooth of garbage", () => {
    const trend = new MemoryTrend(0);
    feed(trend, 8, 100);
    const t = trend.trend();
    expect(t?.heapBytesPerSecond).toBeCloseTo(100, 0);
    expect(t?.rssBytesPerSecond).toBeCloseTo(100, 0);
    expect(t?.spanSeconds).toBe((72 - 1) * 300);
  });

  it("is flat (0 B/s) for memory that only saws up and down", () => {
    const trend = new MemoryTrend(0);
    feed(trend, 8, 0);
    expect(Math.abs(trend.trend()?.heapBytesPerSecond ?? 1)).toBeLessThan(1);
  });

  it("ignores the first 30 minutes (warm-up) and says nothing before 6 complete windows", () => {
    const trend = new MemoryTrend(0);
    // A warm-up that climbs 20 MB in the first 30 min, then flat: the trend must not see it.
    for (let t = 0; t < 30 * MIN; t += 30_000) trend.record(20 * MB + (t / (30 * MIN)) * 20 * MB, 0, t);
    expect(trend.size).toBe(0);
    for (let t = 30 * MIN; t < 60 * MIN; t += 30_000) trend.record(40 * MB, 100 * MB, t);
    expect(trend.trend()).toBeNull(); // 5 complete windows, the 6th still open
    trend.record(40 * MB, 100 * MB, 60 * MIN);
    expect(trend.trend()?.heapBytesPerSecond).toBe(0);
  });

  it("stays bounded: 72 windows (6 h) however long the broker runs", () => {
    const trend = new MemoryTrend(0);
    feed(trend, 48, 10);
    expect(trend.size).toBe(MEMORY_TREND_DEFAULTS.windows);
  });

  it("exports the slope and its span on /metrics, reads every 30 s, and stop() ends its timer", async () => {
    const clock = new ManualClock();
    const registry = new Registry();
    let heap = 50 * MB;
    let reads = 0;
    const { stop } = startMemoryTrend(registry, {
      timers: clock,
      now: () => clock.now(),
      originMs: clock.now(),
      memoryUsage: () => {
        reads++;
        return { heapUsed: heap, rss: heap + 60 * MB };
      },
    });
    expect(await registry.metrics()).not.toMatch(/^tether_memory_trend_bytes_per_second\{/m);
    for (let i = 0; i < (2 * 3_600_000) / 30_000; i++) {
      heap += 30 * 200; // 200 B/s
      clock.advance(30_000);
    }
    const text = await registry.metrics();
    const value = (reading: string) =>
      Number(
        new RegExp(`^tether_memory_trend_bytes_per_second\\{reading="${reading}"\\} (\\S+)$`, "m").exec(
          text,
        )?.[1],
      );
    expect(value("heap_used_min")).toBeCloseTo(200, 0);
    expect(value("rss_min")).toBeCloseTo(200, 0);
    expect(Number(/^tether_memory_trend_span_seconds (\S+)$/m.exec(text)?.[1])).toBe(17 * 300);
    expect(reads).toBeGreaterThanOrEqual(240);
    stop();
    const before = reads;
    clock.advance(10 * MIN);
    expect(reads).toBe(before);
  });

  it("reads memory right after a real major GC (perf_hooks 'gc' observer)", async () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const clock = new ManualClock();
    let reads = 0;
    const { stop } = startMemoryTrend(new Registry(), {
      timers: clock, // never advanced: only the GC observer reads
      memoryUsage: () => {
        reads++;
        return { heapUsed: 1, rss: 1 };
      },
    });
    try {
      gc();
      for (let i = 0; i < 50 && reads === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(reads).toBeGreaterThan(0);
    } finally {
      stop();
    }
  });
});
