/**
 * The adaptive in-flight limit (broker/src/limits/adaptive-limit.ts, issue 17) on an
 * injected clock: it falls when admitted commands slow down while it binds, by half a window
 * at most unless Little's law says the served rate needs less, never below its floor; ignores
 * a few slow answers, is not judged while it does not bind, probes gently right after a cut
 * and grows back once times return to their baseline.
 */
import { describe, expect, it } from "vitest";
import { ADAPTIVE_LIMIT_DEFAULTS, AdaptiveLimit } from "../../broker/src/limits/adaptive-limit.js";

function limiter(overrides: { max?: number; tolerance?: number } = {}) {
  let now = 1_000_000;
  const changes: number[] = [];
  const limit = new AdaptiveLimit({
    ...ADAPTIVE_LIMIT_DEFAULTS,
    max: overrides.max ?? 2_000,
    min: ADAPTIVE_LIMIT_DEFAULTS.minLimit,
    tolerance: overrides.tolerance ?? 2,
    now: () => now,
    onLimit: (value) => changes.push(value),
  });
  return {
    limit,
    changes,
    /** Steps the clock (wall time may jump). */
    step(ms: number) {
      now += ms;
    },
    /**
     * One 100 ms window: `inFlight` admissions at the peak, then `answers` answered in `ms`
     * each (a function of the answer's index); the next window's first answer judges it.
     */
    window(inFlight: number, answers: number, ms: (i: number) => number) {
      limit.admitted(inFlight);
      for (let i = 0; i < answers; i++) limit.answered(now - ms(i), inFlight - i);
      now += ADAPTIVE_LIMIT_DEFAULTS.windowMs;
    },
    /** Ten windows at `ms` (3 ms) with 1,500 in flight: the baseline. */
    settle(ms = 3) {
      for (let w = 0; w < 10; w++) this.window(1_500, 200, () => ms);
    },
    /** `windows` windows whose answers take `ms`, at the limit's own in-flight count. */
    slow(windows: number, ms: number) {
      for (let w = 0; w < windows; w++) this.window(limit.limit, 200, () => ms);
    },
  };
}

describe("AdaptiveLimit", () => {
  it("stays at its ceiling while times stay at their baseline", () => {
    const l = limiter();
    for (let w = 0; w < 50; w++) l.window(1_900, 200, () => 3);
    expect(l.limit.limit).toBe(2_000);
    expect(l.limit.baselineMs).toBe(3);
  });

  it("falls when the median time passes tolerance × baseline while the limit binds: by half a window at most, to the floor at least", () => {
    const l = limiter();
    l.settle();
    let before = l.limit.limit;
    // Ten times slower: the gradient is clamped to one half. Each window's first answer
    // judges the window before it; the first congested window only holds the limit. 10,000
    // answers a window: the served rate keeps Little's cap (2 × 100/ms × 8 ms) above half.
    l.window(before, 10_000, () => 30);
    l.window(before, 10_000, () => 30);
    expect(l.limit.limit).toBe(before);
    for (let w = 0; w < 4; w++) {
      l.window(before, 10_000, () => 30);
      const after = l.limit.limit;
      expect(after).toBeLessThan(before);
      expect(after).toBeGreaterThanOrEqual(Math.floor(before / 2));
      before = after;
    }
    l.slow(40, 30);
    expect(l.limit.limit).toBeLessThan(100);
    expect(l.limit.limit).toBeGreaterThanOrEqual(ADAPTIVE_LIMIT_DEFAULTS.minLimit);
    expect(l.changes.at(-1)).toBe(l.limit.limit);
  });

  it("cuts at once at least as far as Little's law says: to 2 × the served rate × the time it tolerates", () => {
    const l = limiter();
    l.settle(); // baseline 3 ms: it tolerates max(2 × 3, 3 + 5) = 8 ms
    // The onset of a burst: the limit at its ceiling, 200 answers a 100 ms window (2/ms) at 30 ms.
    l.window(2_000, 200, () => 30);
    l.window(2_000, 200, () => 30);
    l.window(2_000, 200, () => 30); // judges the second slow window: the cut
    // Halving would have left 1,000 + √2,000; the served rate needs 2 × 2/ms × 8 ms = 32.
    expect(l.limit.limit).toBe(32);
    expect(l.changes).toEqual([32]);
  });

  it("right after a cut, while it binds, probes by a quarter of √limit a window; once the limit stops binding, or 3 s on, by √limit", () => {
    /** Two slow windows, then one back at the baseline with `peak` in flight: the cut to 32 and that window. */
    const cut = (peak: number) => {
      const l = limiter();
      l.settle();
      l.window(2_000, 200, () => 30);
      l.window(2_000, 200, () => 30);
      l.window(peak, 200, () => 3); // its first answer judges the second slow window: the cut
      expect(l.limit.limit).toBe(32);
      l.window(peak, 200, () => 3); // judges the window at the baseline
      return l;
    };
    // Times back at the baseline, as much in flight as it allows: a gentle probe.
    // (The limit is 32.7 after the cut: the baseline rose a little in the two slow windows.)
    const bound = cut(100);
    expect(bound.limit.limit).toBeGreaterThan(32);
    expect(bound.limit.limit).toBeLessThanOrEqual(33 + 0.25 * Math.sqrt(33));
    // Not bound (the burst is over): a full step at once.
    expect(cut(4).limit.limit).toBeGreaterThanOrEqual(Math.floor(32 + Math.sqrt(32)));
    // Bound, but 3 s after the cut: full steps again.
    for (let w = 0; w < 30; w++) bound.window(2_000, 200, () => 3);
    const before = bound.limit.limit;
    expect(before).toBeLessThan(200); // full steps for those 3 s would have reached ~430
    bound.window(2_000, 200, () => 3);
    expect(bound.limit.limit).toBeGreaterThanOrEqual(Math.floor(before + Math.sqrt(before)));
  });

  it("holds through one slow window (a pause) and does not fall", () => {
    const l = limiter();
    l.settle();
    for (let w = 0; w < 20; w++) {
      l.window(1_900, 200, () => (w % 3 === 0 ? 300 : 3));
    }
    expect(l.limit.limit).toBe(2_000);
  });

  it("is never congested within 5 ms of its baseline, whatever the ratio", () => {
    const l = limiter();
    for (let w = 0; w < 10; w++) l.window(1_500, 200, () => 1.5);
    for (let w = 0; w < 30; w++) l.window(1_900, 200, () => 6);
    expect(l.limit.limit).toBe(2_000);
  });

  it("within the tolerance it does not fall: 1.9 × the baseline at tolerance 2", () => {
    const l = limiter();
    for (let w = 0; w < 10; w++) l.window(1_500, 200, () => 10);
    for (let w = 0; w < 30; w++) l.window(1_900, 200, () => 19);
    expect(l.limit.limit).toBe(2_000);
  });

  it("is moved by the median, not by a few commands waiting out their router's timeout", () => {
    const l = limiter();
    l.settle();
    // 10 of 200 answers per window take 5 s (half-open routers): the mean is 28× the baseline.
    for (let w = 0; w < 30; w++) l.window(1_900, 200, (i) => (i < 10 ? 5_000 : 3));
    expect(l.limit.limit).toBe(2_000);
  });

  it("comes down at once to what is in flight when times rise while it does not bind", () => {
    const l = limiter();
    for (let w = 0; w < 10; w++) l.window(300, 200, () => 3);
    l.window(300, 200, () => 30);
    l.window(300, 200, () => 30);
    l.window(300, 200, () => 30); // judges the second slow window
    expect(l.limit.limit).toBeLessThanOrEqual(Math.floor(300 * 0.5 + Math.sqrt(300)));
    expect(l.limit.limit).toBeGreaterThanOrEqual(ADAPTIVE_LIMIT_DEFAULTS.minLimit);
  });

  it("judges nothing from a window of fewer than minSamples answers: it grows back towards the ceiling", () => {
    const l = limiter();
    l.settle();
    l.slow(6, 30);
    const low = l.limit.limit;
    expect(low).toBeLessThan(200);
    for (let w = 0; w < 30; w++) l.window(5, ADAPTIVE_LIMIT_DEFAULTS.minSamples - 1, () => 300);
    expect(l.limit.limit).toBeGreaterThan(low);
  });

  it("does not stay low after a burst: with times back at the baseline it grows back to the ceiling, bound or not", () => {
    const l = limiter();
    l.settle();
    l.slow(20, 30);
    expect(l.limit.limit).toBeLessThan(100);
    // A quiet night: a few commands in flight, answered at the baseline; ~9 s to the ceiling.
    for (let w = 0; w < 100; w++) l.window(3, 20, () => 3);
    expect(l.limit.limit).toBe(2_000);
  });

  it("grows back by about √limit a window once times are back at their baseline", () => {
    const l = limiter();
    l.settle();
    l.slow(20, 30);
    const low = l.limit.limit;
    expect(low).toBeLessThan(100);
    // Half as many in flight as it allows: not probing (the test above), a full step.
    l.window(low / 2, 200, () => 3);
    l.window(low / 2, 200, () => 3);
    const next = l.limit.limit;
    expect(next).toBeGreaterThan(low);
    expect(next - low).toBeLessThanOrEqual(2 * Math.ceil(Math.sqrt(next)));
    l.slow(300, 3);
    expect(l.limit.limit).toBe(2_000);
  });

  it("takes a lasting slowdown of the whole fleet as its new baseline within a minute or two, and grows back", () => {
    const l = limiter();
    l.settle();
    // Every router answers 10× slower from now on (a slower link, not a congested broker).
    l.slow(1_200, 30);
    expect(l.limit.baselineMs).toBeGreaterThan(15);
    expect(l.limit.limit).toBe(2_000);
  });

  it("keeps judging after the clock is stepped back an hour", () => {
    const l = limiter();
    l.settle();
    l.slow(20, 30);
    const low = l.limit.limit;
    l.step(-3_600_000);
    // Its first judgement after the step is the last slow window's cut, then 3 s of probing
    // while bound (the test above) and ~9 s of full steps: the ceiling within 15 s, not an hour.
    l.slow(150, 3);
    expect(low).toBeLessThan(100);
    expect(l.limit.limit).toBe(2_000);
  });

  it("keeps a baseline of 0 ms (a whole-millisecond clock) as a baseline, not as none", () => {
    const l = limiter();
    l.settle(0);
    l.slow(4, 30);
    expect(l.limit.baselineMs).toBeLessThan(1);
    expect(l.limit.limit).toBeLessThan(2_000);
  });

  it("is off at tolerance 0: the limit stays at its ceiling", () => {
    const l = limiter({ tolerance: 0 });
    l.settle();
    for (let w = 0; w < 30; w++) l.window(1_900, 200, () => 300);
    expect(l.limit.limit).toBe(2_000);
  });
});
