import {
  formatBytes,
  type LinearFit,
  liveCodePoints,
  liveDataPoints,
  liveHeapLessCodePoints,
  liveRssPoints,
  rssPoints,
  type SlopeVerdict,
  type TableColumn,
} from "./analysis.js";
import type { Sample } from "./sampler.js";
import type { GateResult, Point } from "./warmup.js";

export const kbps = (fit: LinearFit | null) => (fit ? fit.slope / 1024 : Number.NaN);

/** The old system's table beside Tether's, as aligned plain text. */
export function footprintText(columns: TableColumn[]): string {
  const header = ["uptime", ...columns.map((c) => c.label)];
  const rows = tableRows(columns);
  const widths = header.map((_, i) => Math.max(...[header, ...rows].map((row) => (row[i] ?? "").length)));
  const line = (row: string[]) => row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ");
  return [line(header), ...rows.map(line)].join("\n");
}

function tableRows(columns: TableColumn[]): string[][] {
  const rows = [["Tether RSS (this run)", ...columns.map((c) => formatBytes(c.tetherBytes))]];
  if (columns.some((c) => c.tetherLiveBytes !== null)) {
    rows.push([
      "Tether RSS after full GC",
      ...columns.map((c) => (c.tetherLiveBytes === null ? "–" : formatBytes(c.tetherLiveBytes))),
    ]);
  }
  rows.push(["old system (reported)", ...columns.map((c) => formatBytes(c.oldBytes))]);
  return rows;
}

/** The same table in Markdown, for docs/BENCHMARKS.md. */
export function footprintMarkdown(columns: TableColumn[]): string {
  return [
    `| uptime | ${columns.map((c) => c.label).join(" | ")} |`,
    `|---|${columns.map(() => "---:").join("|")}|`,
    ...tableRows(columns).map((row) => `| ${row.join(" | ")} |`),
  ].join("\n");
}

export function describeFit(name: string, fit: LinearFit | null): string {
  if (!fit) return `${name}: too few samples after warm-up to fit a slope`;
  return (
    `${name} slope after ${Math.round(fit.fromSeconds)} s warm-up: ${(fit.slope / 1024).toFixed(3)} KB/s ` +
    `(± ${(fit.slopeStdError / 1024).toFixed(3)} standard error, ${fit.n} samples)`
  );
}

/** The gated series when the broker reports V8's code (analysis.ts, liveDataPoints). */
export const GATE_DATA = "RSS after full GC less V8 code";

/**
 * What the gate fits: RSS after GC less V8 code, else RSS after GC, else raw RSS; and the
 * code and the heap after GC less code, whose warm-ups the gate waits for (soak/warmup.ts).
 */
export function gatedSeries(samples: Sample[]): {
  name: string;
  points: Point[];
  code: Point[] | null;
  heap: Point[] | null;
} {
  const code = liveCodePoints(samples);
  const heap = liveHeapLessCodePoints(samples);
  const data = liveDataPoints(samples);
  const heapOrNull = heap.length > 0 ? heap : null;
  if (data.length >= 3) return { name: GATE_DATA, points: data, code, heap: heapOrNull };
  const live = liveRssPoints(samples);
  if (live.length >= 3)
    return { name: "RSS after full GC", points: live, code: code.length > 0 ? code : null, heap: heapOrNull };
  return { name: "RSS", points: rssPoints(samples), code: null, heap: null };
}

const BENDING_NAMES = { code: "V8 code", heap: "the heap after full GC less V8 code" } as const;

export function verdictLine(
  verdict: SlopeVerdict,
  gateName: string,
  gate: GateResult,
  limit: number,
  brokerExit: number | null,
): string {
  if (brokerExit !== 0) return `FAIL: broker exited with ${brokerExit}`;
  if (gate.warmingUp) {
    const what = gate.stillBending.map((s) => (s === "gated" ? gateName : BENDING_NAMES[s])).join(" and ");
    const heapRise =
      gate.stillBending.includes("heap") && gate.heapFit
        ? `; the heap still rises ${(gate.heapFit.slope / 1024).toFixed(3)} ± ${((2 * gate.heapFit.slopeStdError) / 1024).toFixed(3)} KB/s ` +
          `after ${Math.round(gate.heapFit.fromSeconds)} s`
        : "";
    return (
      `INCONCLUSIVE: still warming up (${gate.stillBending.join(", ")}) — ${what} had not levelled off by the end ` +
      `(${Math.round(gate.warmupSeconds)} s)${heapRise}; no slope, no leak: run longer (--duration 30m)`
    );
  }
  const fit = gate.fit;
  if (fit === null) return `INCONCLUSIVE: too few ${gateName} samples after the warm-up to fit a slope`;
  const slope = fit.slope / 1024;
  const margin = (2 * fit.slopeStdError) / 1024;
  const warm = `after ${Math.round(fit.fromSeconds)} s warm-up${gate.estimated ? " (estimated from the data)" : ""}`;
  const range = `${slope.toFixed(3)} ± ${margin.toFixed(3)} KB/s (≈95 %)`;
  if (verdict === "pass") return `PASS: ${gateName} slope ${warm} ${range}, ≤ limit ${limit} KB/s`;
  if (gate.belowEarlierLevel)
    return (
      `INCONCLUSIVE: ${gateName} rises ${range} ${warm}, but ends below the level it already held ` +
      "during the warm-up (memory handed back and refilled, not yet growth): run longer (--duration)"
    );
  if (verdict === "leak") {
    const heap =
      gate.stillBending.includes("heap") && gate.heapFit
        ? ` (the heap after full GC less V8 code climbs in a straight line, ${(gate.heapFit.slope / 1024).toFixed(3)} KB/s)`
        : "";
    return `FAIL: ${gateName} slope ${warm} ${range} is above the limit ${limit} KB/s: memory grows${heap}`;
  }
  return (
    `INCONCLUSIVE: ${gateName} slope ${warm} ${range} — the limit ${limit} KB/s lies inside that interval; ` +
    "run longer (--duration) or force GC more often (--gc-every) to tell flat from growing"
  );
}
