/**
 * Fits of every memory series over one window of a recorded run (issue 18: "over the last hour
 * of a 2-hour run the slope of RSS after full GC (no subtraction) is < 0.05 KB/s"). Used by
 * `soak/verdict.ts --window`.
 */
import {
  fitLine,
  type LinearFit,
  liveCodePoints,
  liveDataPoints,
  liveHeapPoints,
  liveHeapSlackPoints,
  liveOutsideHeapPoints,
  liveRssPoints,
  rssPoints,
  slopeVerdict,
} from "./analysis.js";
import type { Sample } from "./sampler.js";

export interface WindowFit {
  name: string;
  fit: LinearFit | null;
}

/** Each series' least-squares line over samples with from ≤ t ≤ to (seconds). */
export function windowFits(samples: Sample[], from: number, to: number): WindowFit[] {
  const inside = samples.filter((s) => s.t >= from && s.t <= to);
  const series: Array<[string, (s: Sample[]) => Array<{ t: number; y: number }>]> = [
    ["RSS after full GC", liveRssPoints],
    ["RSS after full GC less V8 code", liveDataPoints],
    ["heap after full GC", liveHeapPoints],
    ["V8 code after full GC", liveCodePoints],
    ["RSS after full GC outside V8's heap", liveOutsideHeapPoints],
    ["V8 heap's committed but unused pages after full GC", liveHeapSlackPoints],
    ["RSS (no GC)", rssPoints],
  ];
  return series.map(([name, points]) => ({ name, fit: fitLine(points(inside), from) }));
}

export function windowText(fits: WindowFit[], from: number, to: number, limitKbps: number): string[] {
  const lines = [
    `window ${Math.round(from)}–${Math.round(to)} s (limit ${limitKbps} KB/s on RSS after full GC):`,
  ];
  for (const { name, fit } of fits) {
    if (!fit) {
      lines.push(`  ${name}: too few samples`);
      continue;
    }
    const slope = (fit.slope / 1024).toFixed(3);
    const error = (fit.slopeStdError / 1024).toFixed(3);
    // The soak gate's own rule (analysis.ts, slopeVerdict): within the limit with a tight enough error.
    const verdict = name === "RSS after full GC" ? ` → ${slopeVerdict(fit, limitKbps)}` : "";
    lines.push(`  ${name}: ${slope} KB/s ± ${error} standard error (${fit.n} samples)${verdict}`);
  }
  return lines;
}
