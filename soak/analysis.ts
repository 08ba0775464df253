import type { Sample } from "./sampler.js";

export interface LinearFit {
  /** Bytes per second. */
  slope: number;
  /** Bytes at t = 0. */
  intercept: number;
  /** Standard error of the slope, bytes per second: how much to trust it. */
  slopeStdError: number;
  /** Samples fitted (those after the warm-up). */
  n: number;
  fromSeconds: number;
}

/**
 * Ordinary least squares of y on t over the points with t ≥ fromSeconds.
 *
 * @example fitLine([{t:0,y:1},{t:1,y:3},{t:2,y:5}], 0) // slope 2, intercept 1
 */
export function fitLine(points: Array<{ t: number; y: number }>, fromSeconds: number): LinearFit | null {
  const used = points.filter((p) => p.t >= fromSeconds);
  const n = used.length;
  if (n < 3) return null;
  const meanT = used.reduce((sum, p) => sum + p.t, 0) / n;
  const meanY = used.reduce((sum, p) => sum + p.y, 0) / n;
  let stt = 0;
  let sty = 0;
  for (const p of used) {
    stt += (p.t - meanT) ** 2;
    sty += (p.t - meanT) * (p.y - meanY);
  }
  if (stt === 0) return null;
  const slope = sty / stt;
  const intercept = meanY - slope * meanT;
  const residual = used.reduce((sum, p) => sum + (p.y - (intercept + slope * p.t)) ** 2, 0);
  const slopeStdError = Math.sqrt(residual / (n - 2) / stt);
  return { slope, intercept, slopeStdError, n, fromSeconds };
}

export const rssPoints = (samples: Sample[]) => samples.map((s) => ({ t: s.t, y: s.rss }));
export const heapPoints = (samples: Sample[]) =>
  samples.flatMap((s) => (s.heapUsed === null ? [] : [{ t: s.t, y: s.heapUsed }]));
export const liveRssPoints = (samples: Sample[]) =>
  samples.flatMap((s) => (s.liveRss === null ? [] : [{ t: s.t, y: s.liveRss }]));
export const liveHeapPoints = (samples: Sample[]) =>
  samples.flatMap((s) => (s.liveHeap === null ? [] : [{ t: s.t, y: s.liveHeap }]));
export const liveCodePoints = (samples: Sample[]) =>
  samples.flatMap((s) => (s.liveCode === null ? [] : [{ t: s.t, y: s.liveCode }]));
/**
 * The heap after a full GC less V8's code: JS data and V8's metadata. Its slow warm-up (the
 * JIT's dependent-code lists and feedback) is what the gate waits for besides the code.
 */
export const liveHeapLessCodePoints = (samples: Sample[]) =>
  samples.flatMap((s) =>
    s.liveHeap === null || s.liveCode === null ? [] : [{ t: s.t, y: s.liveHeap - s.liveCode }],
  );
/**
 * RSS after a full GC less V8's code and bytecode: the memory that data holds. What
 * the soak gates on when the broker reports its code (docs/MEMORY.md, "JIT warm-up").
 */
export const liveDataPoints = (samples: Sample[]) =>
  samples.flatMap((s) =>
    s.liveRss === null || s.liveCode === null ? [] : [{ t: s.t, y: s.liveRss - s.liveCode }],
  );

/** RSS after a full GC less V8's heap's physical pages: malloc, the allocator's own, buffers. */
export const liveOutsideHeapPoints = (samples: Sample[]) =>
  samples.flatMap((s) =>
    s.liveRss === null || s.liveHeapPhysical === null || s.liveHeapPhysical === undefined
      ? []
      : [{ t: s.t, y: s.liveRss - s.liveHeapPhysical }],
  );
/** V8's heap pages kept committed but unused after a full GC (physical less used). */
export const liveHeapSlackPoints = (samples: Sample[]) =>
  samples.flatMap((s) =>
    s.liveHeap === null || s.liveHeapPhysical === null || s.liveHeapPhysical === undefined
      ? []
      : [{ t: s.t, y: s.liveHeapPhysical - s.liveHeap }],
  );

/** Uptimes the old system's table used, in seconds. */
export const CHECKPOINTS: Array<{ label: string; seconds: number }> = [
  { label: "start", seconds: 0 },
  { label: "1 min", seconds: 60 },
  { label: "5 min", seconds: 300 },
  { label: "10 min", seconds: 600 },
  { label: "30 min", seconds: 1_800 },
  { label: "1 h", seconds: 3_600 },
  { label: "2 h", seconds: 7_200 },
  { label: "6 h", seconds: 21_600 },
  { label: "12 h", seconds: 43_200 },
  { label: "24 h", seconds: 86_400 },
];
export const THIRTY_HOURS = 30 * 3_600;

/** The old system, as its operators reported it: 73 MB at start, 3.47 GB after 30 h with 200 routers. */
export const OLD_SYSTEM = { startBytes: 73 * 2 ** 20, after30hBytes: 3.47 * 2 ** 30 };
export const oldSystemAt = (seconds: number) =>
  OLD_SYSTEM.startBytes + ((OLD_SYSTEM.after30hBytes - OLD_SYSTEM.startBytes) * seconds) / THIRTY_HOURS;

export interface TableColumn {
  label: string;
  seconds: number;
  /** Tether's RSS then: the median of the samples within half a sample period (or the nearest). */
  tetherBytes: number;
  /** Tether's RSS right after a forced full GC, nearest such sample; null without GC samples. */
  tetherLiveBytes: number | null;
  oldBytes: number;
  extrapolated: boolean;
}

/** The median of `values` (0 for none). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

function rssAround(samples: Sample[], seconds: number, halfWindow: number): number {
  const near = samples.filter((s) => Math.abs(s.t - seconds) <= halfWindow).map((s) => s.rss);
  if (near.length > 0) return median(near);
  let best = samples[0];
  for (const s of samples)
    if (best === undefined || Math.abs(s.t - seconds) < Math.abs(best.t - seconds)) best = s;
  return best?.rss ?? 0;
}

function liveRssNear(samples: Sample[], seconds: number): number | null {
  let best: { t: number; liveRss: number } | null = null;
  for (const s of samples) {
    if (s.liveRss === null) continue;
    if (best === null || Math.abs(s.t - seconds) < Math.abs(best.t - seconds))
      best = { t: s.t, liveRss: s.liveRss };
  }
  return best?.liveRss ?? null;
}

/** The columns the run reached, then its end, then 30 h at the fitted slope. */
export function footprintTable(
  samples: Sample[],
  fit: LinearFit | null,
  sampleSeconds: number,
): TableColumn[] {
  const last = samples.at(-1);
  if (!last) return [];
  const half = Math.max(sampleSeconds, 1);
  const columns: TableColumn[] = CHECKPOINTS.filter((c) => c.seconds <= last.t + half / 2).map((c) => ({
    label: c.label,
    seconds: c.seconds,
    tetherBytes: c.seconds === 0 ? (samples[0]?.rss ?? 0) : rssAround(samples, c.seconds, half),
    tetherLiveBytes: liveRssNear(samples, c.seconds),
    oldBytes: oldSystemAt(c.seconds),
    extrapolated: false,
  }));
  const lastCheckpoint = columns.at(-1);
  if (!lastCheckpoint || last.t - lastCheckpoint.seconds > half) {
    columns.push({
      label: `end (${formatUptime(last.t)})`,
      seconds: last.t,
      tetherBytes: rssAround(samples, last.t, half),
      tetherLiveBytes: liveRssNear(samples, last.t),
      oldBytes: oldSystemAt(last.t),
      extrapolated: false,
    });
  }
  if (fit) {
    const growth = Math.max(0, fit.slope) * (THIRTY_HOURS - last.t);
    const endLive = liveRssNear(samples, last.t);
    columns.push({
      label: "30 h (extrapolated)",
      seconds: THIRTY_HOURS,
      tetherBytes: rssAround(samples, last.t, half) + growth,
      tetherLiveBytes: endLive === null ? null : endLive + growth,
      oldBytes: OLD_SYSTEM.after30hBytes,
      extrapolated: true,
    });
  }
  return columns;
}

export function formatUptime(seconds: number): string {
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  return s === 0 ? `${m} min` : `${m} min ${s} s`;
}

export function formatBytes(bytes: number): string {
  if (Math.abs(bytes) >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(2)} GB`;
  return `${(bytes / 2 ** 20).toFixed(1)} MB`;
}

/** The run's RTT percentiles, ms. */
export function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? null;
}

/** What a fitted slope says against the limit, given its standard error. */
export type SlopeVerdict = "pass" | "leak" | "inconclusive";

/**
 * `pass` when the fitted slope is within the limit and measured precisely enough to
 * mean it: its ~95 % interval (± two standard errors) no wider than ± twice the limit,
 * so a leak five times the limit cannot pass by a lucky draw of noise (issue 18);
 * `leak` when the slope exceeds the limit by more than two standard errors (the data
 * show growth above the limit); `inconclusive` otherwise — the run was too short or
 * too noisy to tell, so it is neither called flat nor a leak.
 */
export function slopeVerdict(fit: LinearFit | null, limitKbps: number): SlopeVerdict {
  if (fit === null) return "inconclusive";
  const slopeKbps = fit.slope / 1024;
  const twoStdErrorsKbps = (2 * fit.slopeStdError) / 1024;
  if (slopeKbps <= limitKbps) return twoStdErrorsKbps <= 2 * limitKbps ? "pass" : "inconclusive";
  return slopeKbps - twoStdErrorsKbps > limitKbps ? "leak" : "inconclusive";
}
