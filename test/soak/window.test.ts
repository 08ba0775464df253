import { describe, expect, it } from "vitest";
import { windowFits, windowText } from "../../soak/window.js";
import { MB, series } from "./warmup-series.js";

const rssAfterGc = (fits: ReturnType<typeof windowFits>) =>
  fits.find((f) => f.name === "RSS after full GC")?.fit;

describe("a window's fits (issue 18: the last hour of a 2-hour run)", () => {
  it("fits only the window: warm-up before it does not count, and a flat last hour passes", () => {
    // Two hours: 3 MB of data warm-up and 2 MB of code warm-up early, then flat.
    const samples = series({ seconds: 7_200, dataTau: 600, codeTau: 900, noise: 100 * 1024 });
    const whole = rssAfterGc(windowFits(samples, 0, 7_200));
    const lastHour = rssAfterGc(windowFits(samples, 3_600, 7_200));
    expect(whole?.slope).toBeGreaterThan(0.2 * 1024); // the warm-up shows over the whole run
    expect(lastHour?.n).toBe(361);
    expect(Math.abs((lastHour?.slope ?? Number.NaN) / 1024)).toBeLessThan(0.02);
    expect(windowText(windowFits(samples, 3_600, 7_200), 3_600, 7_200, 0.05).join("\n")).toMatch(
      /RSS after full GC: -?0\.0\d\d KB\/s ± 0\.0\d\d standard error \(361 samples\) → pass/,
    );
  });

  it("says leak for 0.5 KB/s of lasting growth in the window, and fits each series", () => {
    const samples = series({ seconds: 7_200, leakBps: 512, noise: 100 * 1024 });
    const fits = windowFits(samples, 3_600, 7_200);
    expect((rssAfterGc(fits)?.slope ?? 0) / 1024).toBeCloseTo(0.5, 1);
    expect(fits.map((f) => f.name)).toEqual([
      "RSS after full GC",
      "RSS after full GC less V8 code",
      "heap after full GC",
      "V8 code after full GC",
      "RSS after full GC outside V8's heap",
      "V8 heap's committed but unused pages after full GC",
      "RSS (no GC)",
    ]);
    expect(fits.find((f) => f.name === "heap after full GC")?.fit).toBeNull(); // no heap readings here
    expect(windowText(fits, 3_600, 7_200, 0.05).join("\n")).toMatch(
      /RSS after full GC: 0\.(49|50)\d KB\/s ± 0\.00\d standard error \(361 samples\) → leak/,
    );
  });

  it("places a climb outside V8's heap or in its unused pages, from the heap's physical size", () => {
    // 0.3 KB/s outside the heap (malloc), V8's committed pages flat 2 MB above its used heap.
    const samples = series({ seconds: 3_600, noise: 0 }).map((s) => {
      const heap = 30 * MB + (s.t % 50) * 1024; // used heap wobbles, no trend
      const heapPhysical = heap + 2 * MB;
      return {
        ...s,
        liveHeap: heap,
        liveHeapPhysical: heapPhysical,
        liveRss: 60 * MB + heapPhysical + 300 * s.t,
      };
    });
    const fits = windowFits(samples, 1_800, 3_600);
    const slope = (name: string) => (fits.find((f) => f.name === name)?.fit?.slope ?? Number.NaN) / 1024;
    expect(slope("RSS after full GC outside V8's heap")).toBeCloseTo(300 / 1024, 3);
    expect(slope("V8 heap's committed but unused pages after full GC")).toBeCloseTo(0, 3);
    // A recording from before the heap's physical size was read has neither series.
    const old = windowFits(series({ seconds: 3_600 }), 1_800, 3_600);
    expect(old.find((f) => f.name === "RSS after full GC outside V8's heap")?.fit).toBeNull();
  });
});
