import type { LinearFit } from "./analysis.js";
import type { Sample } from "./sampler.js";

const W = 900;
const H = 440;
const M = { left: 70, right: 20, top: 50, bottom: 50 };
const PLOT_W = W - M.left - M.right;
const PLOT_H = H - M.top - M.bottom;
const MB = 2 ** 20;

/** 1, 2 or 5 × a power of ten, so that about `count` ticks cover 0..max. */
function niceStep(max: number, count: number): number {
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const factor = [1, 2, 5, 10].find((f) => f * power >= raw) ?? 10;
  return factor * power;
}

const esc = (text: string) => text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
const fixed = (n: number) => n.toFixed(1);

export interface ChartText {
  title: string;
  subtitle: string;
  fitLabel: string;
}

/**
 * Memory over time as a hand-written SVG (no dependency): RSS and heap used in MB
 * against minutes (and, after each forced GC, RSS, RSS less V8's code, heap and the
 * code itself), the warm-up shaded, the gated fit dashed. The y axis
 * starts at 0 so that "flat" looks flat honestly.
 */
export function memoryChart(
  samples: Sample[],
  fit: LinearFit | null,
  warmupSeconds: number,
  text: ChartText,
): string {
  const tMax = Math.max(samples.at(-1)?.t ?? 1, 1);
  const yMaxBytes = Math.max(...samples.map((s) => s.rss), 1) * 1.3;
  const xStepMin = niceStep(tMax / 60, 8);
  const yStepMb = niceStep(yMaxBytes / MB, 6);
  const yTop = Math.ceil(yMaxBytes / MB / yStepMb) * yStepMb;
  const x = (t: number) => M.left + (t / tMax) * PLOT_W;
  const y = (bytes: number) => M.top + PLOT_H - (bytes / MB / yTop) * PLOT_H;
  const path = (points: Array<[number, number]>) =>
    points.map(([t, b], i) => `${i === 0 ? "M" : "L"}${fixed(x(t))},${fixed(y(b))}`).join(" ");

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif" font-size="12" role="img">`,
    `<title>${esc(`${text.title}. ${text.subtitle}`)}</title>`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${M.left}" y="22" font-size="15" font-weight="600">${esc(text.title)}</text>`,
    `<text x="${M.left}" y="40" fill="#555">${esc(text.subtitle)}</text>`,
    `<rect x="${fixed(x(0))}" y="${M.top}" width="${fixed(x(Math.min(warmupSeconds, tMax)) - x(0))}" height="${PLOT_H}" fill="#f1f1f1"/>`,
    `<text x="${fixed(x(0) + 4)}" y="${M.top + 14}" fill="#888">warm-up</text>`,
  ];
  for (let mb = 0; mb <= yTop + 1e-9; mb += yStepMb) {
    const py = fixed(y(mb * MB));
    parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${py}" y2="${py}" stroke="#e3e3e3"/>`);
    parts.push(
      `<text x="${M.left - 6}" y="${py}" text-anchor="end" dominant-baseline="middle">${mb} MB</text>`,
    );
  }
  for (let min = 0; min * 60 <= tMax + 1e-9; min += xStepMin) {
    const px = fixed(x(min * 60));
    parts.push(
      `<line x1="${px}" x2="${px}" y1="${M.top + PLOT_H}" y2="${M.top + PLOT_H + 5}" stroke="#333"/>`,
    );
    parts.push(
      `<text x="${px}" y="${M.top + PLOT_H + 18}" text-anchor="middle">${Number(min.toFixed(2))}</text>`,
    );
  }
  parts.push(
    `<text x="${M.left + PLOT_W / 2}" y="${H - 10}" text-anchor="middle" fill="#555">minutes since the broker started</text>`,
    `<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${M.top + PLOT_H}" stroke="#333"/>`,
    `<line x1="${M.left}" x2="${W - M.right}" y1="${M.top + PLOT_H}" y2="${M.top + PLOT_H}" stroke="#333"/>`,
    `<path d="${path(samples.map((s) => [s.t, s.rss]))}" fill="none" stroke="#1f6feb" stroke-width="2"/>`,
  );
  const heap = samples.flatMap(
    (s): Array<[number, number]> => (s.heapUsed === null ? [] : [[s.t, s.heapUsed]]),
  );
  if (heap.length > 0)
    parts.push(`<path d="${path(heap)}" fill="none" stroke="#d9822b" stroke-width="1.5"/>`);
  const live = (pick: (s: Sample) => number | null) =>
    samples.flatMap((s): Array<[number, number]> => {
      const v = pick(s);
      return v === null ? [] : [[s.t, v]];
    });
  const liveRss = live((s) => s.liveRss);
  const liveHeap = live((s) => s.liveHeap);
  const liveCode = live((s) => s.liveCode);
  const liveData = live((s) => (s.liveRss === null || s.liveCode === null ? null : s.liveRss - s.liveCode));
  if (liveRss.length > 0)
    parts.push(`<path d="${path(liveRss)}" fill="none" stroke="#0a7d32" stroke-width="2.5"/>`);
  if (liveData.length > 0)
    parts.push(`<path d="${path(liveData)}" fill="none" stroke="#17a2b8" stroke-width="2"/>`);
  if (liveHeap.length > 0)
    parts.push(`<path d="${path(liveHeap)}" fill="none" stroke="#8a2be2" stroke-width="2.5"/>`);
  if (liveCode.length > 0)
    parts.push(`<path d="${path(liveCode)}" fill="none" stroke="#777" stroke-width="2"/>`);
  if (fit) {
    const from = fit.fromSeconds;
    parts.push(
      `<path d="${path([
        [from, fit.intercept + fit.slope * from],
        [tMax, fit.intercept + fit.slope * tMax],
      ])}" fill="none" stroke="#0b3d91" stroke-width="1.5" stroke-dasharray="6 4"/>`,
    );
  }
  const legendX = W - M.right - 330;
  const legend: Array<[string, string, string]> = [
    ["#1f6feb", "", "RSS (VmRSS)"],
    ["#d9822b", "", "V8 heap used"],
    ...(liveRss.length > 0
      ? ([
          ["#0a7d32", "", "RSS after full GC"],
          ["#8a2be2", "", "heap after full GC"],
        ] as Array<[string, string, string]>)
      : []),
    ...(liveCode.length > 0
      ? ([
          ["#17a2b8", "", "RSS after full GC less V8 code"],
          ["#777", "", "V8 code (JIT), after full GC"],
        ] as Array<[string, string, string]>)
      : []),
    ["#0b3d91", "6 4", `${text.fitLabel} after warm-up`],
  ];
  legend.forEach(([color, dash, label], i) => {
    const ly = M.top + 14 + i * 16;
    parts.push(
      `<line x1="${legendX}" x2="${legendX + 24}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ""}/>`,
      `<text x="${legendX + 30}" y="${ly}" dominant-baseline="middle">${label}</text>`,
    );
  });
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}
