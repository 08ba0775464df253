import { formatBytes, type LinearFit, type TableColumn } from "./analysis.js";

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
