import { randomBytes } from "node:crypto";
import { freePort } from "../../../scripts/lib/ports.js";
import { startSystem } from "../../../scripts/lib/system.js";
import { BENCH_API_TOKEN, BENCH_DEVICE_SECRET } from "../ipc.js";
import { type RoundTripResult, tetherRoundTrips } from "./round-trip.js";

/** One rate: the same system's broker API (the baseline the edge adds to), then the edge. */
export interface EdgeLegRun {
  rate: number;
  viaBroker: RoundTripResult | null;
  /** Rails' route on the local edge (workerd, as `npm start` runs it) → broker API → device. */
  viaEdge: RoundTripResult | null;
}

export interface EdgeLegResult {
  runs: EdgeLegRun[];
  error: string | null;
}

/** A rate one local workerd keeps up with on a small machine, beside the bench's own. */
export const EDGE_GENTLE_RATE = 100;

/** Rails' token for the edge leg; the broker's is BENCH_API_TOKEN. */
const RAILS_TOKEN = `bench-rails-${randomBytes(12).toString("hex")}`;

/**
 * Starts the local system as `npm start` does (broker in memory + edge on workerd,
 * wrangler's inspector off, on free ports, quiet), then measures command round trips at
 * the same open-loop rate through the broker API and through the edge.
 */
export async function edgeLeg(
  o: { rate: number; seconds: number; devices: number },
  log: (line: string) => void,
): Promise<EdgeLegResult> {
  const result: EdgeLegResult = { runs: [], error: null };
  const host = "127.0.0.1";
  let system: Awaited<ReturnType<typeof startSystem>> | null = null;
  try {
    const [mqttPort, httpPort, edgePort] = [await freePort(), await freePort(), await freePort()];
    log(`  starting broker + edge (workerd) on ports ${mqttPort}, ${httpPort}, ${edgePort}`);
    system = await startSystem({
      host,
      mqttPort,
      httpPort,
      edgePort,
      env: {
        DEVICE_SECRET: BENCH_DEVICE_SECRET,
        BROKER_API_TOKEN: BENCH_API_TOKEN,
        RAILS_API_TOKEN: RAILS_TOKEN,
        EDGE_EVENTS_SECRET: randomBytes(16).toString("hex"),
        CLIENT_JWT_SECRET: randomBytes(16).toString("hex"),
      },
      simulate: 0,
      output: null,
      readyTimeoutMs: 90_000,
    });
    const { urls } = system;
    const rates = [...new Set([Math.min(EDGE_GENTLE_RATE, o.rate), o.rate])];
    for (const rate of rates) {
      const run: EdgeLegRun = { rate, viaBroker: null, viaEdge: null };
      result.runs.push(run);
      log(`  through the broker API: ${rate}/s for ${o.seconds} s`);
      run.viaBroker = await tetherRoundTrips(urls.brokerHttp, urls.mqtt, o.devices, rate, o.seconds);
      log(`    ${describe(run.viaBroker)}`);
      log(`  through the edge: ${rate}/s for ${o.seconds} s`);
      run.viaEdge = await tetherRoundTrips(urls.edge, urls.mqtt, o.devices, rate, o.seconds, RAILS_TOKEN);
      log(`    ${describe(run.viaEdge)}`);
    }
  } catch (error) {
    result.error = error instanceof Error ? error.message : String(error);
    log(`  failed: ${result.error}`);
  } finally {
    await system?.stop();
  }
  return result;
}

function describe(rt: RoundTripResult): string {
  return (
    `${rt.ok}/${rt.sent} ok, p50 ${rt.p50?.toFixed(2)} ms, p99 ${rt.p99?.toFixed(2)} ms` +
    (rt.firstFailure ? `, first failure: ${rt.firstFailure}` : "")
  );
}
