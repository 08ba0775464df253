/**
 * The storm and overload legs of `npm run bench` (bench/run.ts), with the small argument
 * helpers they share with it. Each writes its own section of docs/BENCHMARKS.md.
 */
import { cpus, loadavg } from "node:os";
import { overloadDevices, overloadLeg } from "./overload/leg.js";
import { renderOverload } from "./overload/section.js";
import { writeBenchmarksSection } from "./peers/docs-section.js";
import { stormLeg } from "./storm/leg.js";
import { renderStorm } from "./storm/section.js";

/**
 * The broker API's knee on this 2-core machine, broker, routers and generator together
 * (docs/BENCHMARKS.md, "Overload"): on the quiet machine 3,000/s was served with p99 12 ms
 * and goodput levelled at 3.7–4.1k/s past it. Runs taken while other suites loaded the
 * machine put it at 1,000–2,000/s: pass `--knee` for another machine.
 */
export const MEASURED_KNEE = 3_000;

/**
 * The storm's routers per source address (127.1.x.y): a real fleet's routers each have an
 * address of their own, a few share one behind a NAT; 50 stays under the default
 * MAX_UNAUTHENTICATED_PER_ADDRESS (100), so that limit applies as it would in the field.
 */
export const STORM_PER_SOURCE = 50;

export const log = (line: string) => process.stderr.write(`${line}\n`);

export function whole(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) {
    log(`--${name} must be a whole number ≥ 1 (got "${text}")`);
    process.exit(2);
  }
  return n;
}

/** The reconnect storm (issue 14): writes the "Reconnect storm" section. */
export async function runStorm(
  routers: number,
  text: { perAddress: string | undefined; perSource: string | undefined; downMs: string | undefined },
  command: string,
  noWrite: boolean,
): Promise<number> {
  log(`\n[reconnect storm] ${routers} routers`);
  try {
    const limit = text.perAddress === undefined ? null : whole("per-address", text.perAddress, 100);
    const perSource = whole("per-source", text.perSource, STORM_PER_SOURCE);
    const downMs = text.downMs === undefined || text.downMs === "0" ? 0 : whole("down-ms", text.downMs, 0);
    const section = renderStorm(await stormLeg(routers, limit, perSource, downMs, log), command);
    if (!noWrite) writeBenchmarksSection("Reconnect storm", section);
    console.log(`\n## Reconnect storm\n\n${section}`);
    return 0;
  } catch (error) {
    log(`  storm failed: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

/** `--factors 0.5,1,2`: positive multiples of the knee, refused by name when not. */
function factorList(text: string): number[] {
  const factors = text.split(",").map((f) => Number(f.trim()));
  if (factors.length === 0 || factors.some((f) => !Number.isFinite(f) || f <= 0 || f > 16)) {
    throw new Error(`--factors takes positive numbers up to 16, comma separated (got "${text}")`);
  }
  return factors;
}

/** The overload leg (issue 17): writes the "Overload" section and docs/overload.svg. */
export async function runOverload(
  values: {
    knee?: string;
    "overload-seconds"?: string;
    "no-compare"?: boolean;
    "no-write"?: boolean;
    factors?: string;
  },
  command: string,
): Promise<number> {
  const options = {
    knee: whole("knee", values.knee, MEASURED_KNEE),
    factors: values.factors ? factorList(values.factors) : [0.5, 1, 2, 4],
    seconds: whole("overload-seconds", values["overload-seconds"], 10),
    devices: overloadDevices(),
    compare: !values["no-compare"],
  };
  log(`\n[overload] knee ${options.knee}/s, ${options.seconds} s per rate`);
  const loadBefore = loadavg()[0] ?? 0;
  const result = await overloadLeg(options, log);
  const load = `load average ${loadBefore.toFixed(1)} at the start, ${(loadavg()[0] ?? 0).toFixed(1)} at the end`;
  const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? "unknown CPU"}, Node ${process.version}, ${load}`;
  const section = renderOverload(result, command, machine, !values["no-write"]);
  if (!values["no-write"]) {
    writeBenchmarksSection("Overload", section);
    log("wrote the Overload section of docs/BENCHMARKS.md and docs/overload.svg");
  }
  console.log(`\n## Overload\n\n${section}`);
  return result.error === null ? 0 : 1;
}
