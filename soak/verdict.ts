/**
 * `npx tsx soak/verdict.ts <soak.json>…`: the soak's gate (warm-up estimated from the data,
 * soak/warmup.ts) applied again to recorded runs — to judge runs recorded before it, or to
 * see what a shorter run would have said (`--until 6m`). One line per file.
 * `--window 60m-120m` also fits every series (RSS after full GC with and without V8's code, heap,
 * code, raw RSS) over that window alone, judged on RSS after full GC (issue 18's last hour).
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { parseDuration } from "./args.js";
import { gatedSeries, verdictLine } from "./report.js";
import { EMPTY, type Sample } from "./sampler.js";
import { gateVerdict, warmupOptions } from "./warmup.js";
import { windowFits, windowText } from "./window.js";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { until: { type: "string" }, limit: { type: "string" }, window: { type: "string" } },
});
if (positionals.length === 0) {
  console.error("Usage: npx tsx soak/verdict.ts [--until 6m] [--limit 0.1] [--window 60m-120m] <soak.json>…");
  process.exit(2);
}
const until = values.until === undefined ? Number.POSITIVE_INFINITY : parseDuration(values.until) / 1000;
const limit = Number(values.limit ?? "0.1");
const window = values.window === undefined ? null : parseWindow(values.window);

/** `60m-120m` → [3600, 7200] seconds. */
function parseWindow(text: string): [number, number] {
  const [from, to] = text.split("-");
  if (from === undefined || to === undefined || from === "" || to === "") {
    console.error(`--window ${text}: expected <from>-<to>, e.g. 60m-120m`);
    process.exit(2);
  }
  return [parseDuration(from) / 1000, parseDuration(to) / 1000];
}
let worst = 0;
for (const file of positionals) {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    console.error(`${file}: ${error instanceof Error ? error.message : String(error)}`);
    worst = Math.max(worst, 2);
    continue;
  }
  const run = JSON.parse(text) as {
    samples: Array<Partial<Sample> & { t: number; rss: number }>;
    options?: { primeMs?: number };
  };
  // Runs recorded before a field existed lack it: null, as the sampler writes it today.
  const samples: Sample[] = run.samples
    .filter((s) => s.t <= until)
    .map((s) => ({ ...EMPTY, liveRss: null, liveHeap: null, liveCode: null, ...s }));
  const series = gatedSeries(samples);
  // Runs recorded before --prime had none.
  const gate = gateVerdict(
    { gated: series.points, code: series.code, heap: series.heap },
    limit,
    null,
    warmupOptions((run.options?.primeMs ?? 0) / 1000),
  );
  const end = Math.round(samples.at(-1)?.t ?? 0);
  console.log(`${file} (${end} s): ${verdictLine(gate.verdict, series.name, gate, limit, 0)}`);
  if (window)
    for (const line of windowText(windowFits(samples, window[0], window[1]), ...window, limit))
      console.log(line);
  worst = Math.max(
    worst,
    { pass: 0, inconclusive: 3, leak: 1 }[gate.verdict] === 1 ? 1 : gate.verdict === "inconclusive" ? 3 : 0,
  );
}
process.exit(worst);
