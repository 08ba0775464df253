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
    // `auto` (the default): measured in the run (overload/knee.ts); a number: taken as given.
    knee: values.knee === undefined || values.knee === "auto" ? null : whole("knee", values.knee, 1),
    factors: values.factors ? factorList(values.factors) : [0.5, 1, 2, 4],
    seconds: whole("overload-seconds", values["overload-seconds"], 10),
    devices: overloadDevices(),
    compare: !values["no-compare"],
  };
  const knee = options.knee === null ? "measured first" : `${options.knee}/s`;
  log(`\n[overload] knee ${knee}, ${options.seconds} s per rate`);
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
