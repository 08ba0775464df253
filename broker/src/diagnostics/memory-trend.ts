/**
 * The broker's own memory trend (issue 18): the slope of its low points over the last
 * hours, so an operator sees a slow leak in days (tether_memory_trend_bytes_per_second,
 * alert TetherMemoryTrendRising), not in gigabytes. docs/MEMORY.md, "Memory trend".
 *
 * Each window (5 min) keeps the lowest heapUsed and RSS read right after a major GC
 * (perf_hooks 'gc' observer) or by a periodic read: the heap's sawtooth bottoms out after
 * a GC, so the window's minimum is the heap-after-GC reading without forcing a GC. The
 * last `windows` windows (72: 6 h) live in a ring; the slope is a least-squares line
 * through their minima. Bounded: one 3-number entry per window, `windows` at most.
 */
import { constants, PerformanceObserver } from "node:perf_hooks";
import { Gauge, type Registry } from "prom-client";
import { type IntervalTimers, nodeTimers } from "./memory-log.js";

export const MEMORY_TREND_GAUGE = "tether_memory_trend_bytes_per_second";
export const MEMORY_TREND_SPAN_GAUGE = "tether_memory_trend_span_seconds";

export interface MemoryTrendOptions {
  /** One low point per window, ms (default 5 min). */
  windowMs: number;
  /** Windows kept: the trend's horizon is windowMs × windows (default 72: 6 h). */
  windows: number;
  /** Readings before this much uptime are ignored: the JIT and the fleet warm up (default 30 min). */
  settleMs: number;
  /** Periodic read, besides those after major GCs, ms (default 30 s). */
  sampleMs: number;
  /** Fewest complete windows for a slope (default 6: 30 min). */
  minWindows: number;
}

export const MEMORY_TREND_DEFAULTS: MemoryTrendOptions = {
  windowMs: 5 * 60_000,
  windows: 72,
  settleMs: 30 * 60_000,
  sampleMs: 30_000,
  minWindows: 6,
};

interface Window {
  index: number;
  heapMin: number;
  rssMin: number;
}

export interface Trend {
  heapBytesPerSecond: number;
  rssBytesPerSecond: number;
  /** From the first kept window's middle to the last's, seconds. */
  spanSeconds: number;
  windows: number;
}

/** Low points per window in a bounded ring, and the slope through them. Pure: no timers. */
export class MemoryTrend {
  private readonly ring: Window[] = [];
  private current: Window | null = null;

  constructor(
    /** Process start (ms, same clock as record's `atMs`): windows count from here. */
    private readonly originMs: number,
    readonly options: MemoryTrendOptions = MEMORY_TREND_DEFAULTS,
  ) {}

  /** One reading (heapUsed, RSS in bytes) at `atMs`. */
  record(heapUsed: number, rss: number, atMs: number): void {
    const uptime = atMs - this.originMs;
    if (uptime < this.options.settleMs) return;
    const index = Math.floor(uptime / this.options.windowMs);
    if (this.current !== null && index !== this.current.index) {
      if (index < this.current.index) return; // a clock step back: ignore the reading
      this.ring.push(this.current);
      if (this.ring.length > this.options.windows) this.ring.shift();
      this.current = null;
    }
    if (this.current === null) this.current = { index, heapMin: heapUsed, rssMin: rss };
    else {
      this.current.heapMin = Math.min(this.current.heapMin, heapUsed);
      this.current.rssMin = Math.min(this.current.rssMin, rss);
    }
  }

  /** Complete windows kept (at most options.windows). */
  get size(): number {
    return this.ring.length;
  }

  /** The slope through the kept windows' minima; null with fewer than minWindows. */
  trend(): Trend | null {
    const n = this.ring.length;
    if (n < Math.max(this.options.minWindows, 3)) return null;
    const seconds = this.options.windowMs / 1000;
    const ts = this.ring.map((w) => (w.index + 0.5) * seconds);
    const meanT = ts.reduce((a, b) => a + b, 0) / n;
    const stt = ts.reduce((sum, t) => sum + (t - meanT) ** 2, 0);
    const slope = (ys: number[]) => {
      const meanY = ys.reduce((a, b) => a + b, 0) / n;
      return ts.reduce((sum, t, i) => sum + (t - meanT) * ((ys[i] ?? 0) - meanY), 0) / stt;
    };
    return {
      heapBytesPerSecond: slope(this.ring.map((w) => w.heapMin)),
      rssBytesPerSecond: slope(this.ring.map((w) => w.rssMin)),
      spanSeconds: (ts.at(-1) ?? 0) - (ts[0] ?? 0),
      windows: n,
    };
  }
}

/**
 * Feeds a MemoryTrend from this process (after each major GC and every sampleMs) and
 * registers its gauges: `tether_memory_trend_bytes_per_second{reading="heap_used_min"|"rss_min"}`
 * and `tether_memory_trend_span_seconds` (absent until minWindows complete windows exist).
 * Returns stop(), which disconnects the GC observer and the timer.
 */
export function startMemoryTrend(
  registry: Registry,
  {
    options = MEMORY_TREND_DEFAULTS,
    timers = nodeTimers,
    now = () => performance.timeOrigin + performance.now(),
    originMs = performance.timeOrigin,
    memoryUsage = () => process.memoryUsage(),
  }: {
    options?: MemoryTrendOptions;
    timers?: IntervalTimers;
    now?: () => number;
    originMs?: number;
    memoryUsage?: () => { heapUsed: number; rss: number };
  } = {},
): { trend: MemoryTrend; stop: () => void } {
  const trend = new MemoryTrend(originMs, options);
  const read = () => {
    const usage = memoryUsage();
    trend.record(usage.heapUsed, usage.rss, now());
  };
  const observer = new PerformanceObserver((list) => {
    const major = list.getEntries().some((entry) => {
      // Node ≥ 16 puts the GC's kind on `detail` (NodeGCPerformanceDetail).
      const detail: unknown = Reflect.get(entry, "detail");
      const kind = typeof detail === "object" && detail !== null ? Reflect.get(detail, "kind") : undefined;
      return kind === constants.NODE_PERFORMANCE_GC_MAJOR;
    });
    if (major) read();
  });
  observer.observe({ entryTypes: ["gc"] });
  const handle = timers.setInterval(read, options.sampleMs);
  new Gauge({
    name: MEMORY_TREND_GAUGE,
    help: "Slope of the broker's memory low points (heap used and RSS, lowest per 5-minute window) over the last hours, bytes/s",
    labelNames: ["reading"],
    registers: [registry],
    collect() {
      this.reset();
      const t = trend.trend();
      if (t === null) return;
      this.set({ reading: "heap_used_min" }, t.heapBytesPerSecond);
      this.set({ reading: "rss_min" }, t.rssBytesPerSecond);
    },
  });
  new Gauge({
    name: MEMORY_TREND_SPAN_GAUGE,
    help: "Seconds of history behind tether_memory_trend_bytes_per_second",
    registers: [registry],
    collect() {
      this.reset();
      const t = trend.trend();
      if (t !== null) this.set(t.spanSeconds);
    },
  });
  let stopped = false;
  return {
    trend,
    stop() {
      if (stopped) return;
      stopped = true;
      observer.disconnect();
      timers.clearInterval(handle);
    },
  };
}
