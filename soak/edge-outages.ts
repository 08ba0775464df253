import { setTimeout as sleep } from "node:timers/promises";
import type { Simulation } from "../device-sdk/src/simulator/simulation.js";
import { isRecord } from "../protocol/src/index.js";
import type { LocalEdge } from "./local-edge.js";

/** One outage of `--edge-outages` and how the edge's view came back (issue 12). */
export interface OutageReport {
  /** Seconds into the run when the edge was stopped. */
  atS: number;
  /** Seconds from stop until it answered again (the wait plus wrangler's start). */
  downS: number;
  /** Routers in the fleet when the edge came back. */
  routers: number;
  /** Seconds after it answered until every router had shown its truth at the edge; null if not within the limit. */
  convergedS: number | null;
  /** Routers that never matched within the limit (ids, at most 10). */
  unconverged: string[];
}

export interface EdgeOutageOptions {
  everyMs: number;
  forMs: number;
  /** How long the view may take to converge after the edge is back (the 60 s). */
  convergeLimitMs: number;
}

/** Views read in parallel while checking convergence (the fleet may be hundreds). */
const PARALLEL_READS = 20;

/**
 * `npm run soak -- --edge --edge-outages`: stops the soak's edge for `forMs` every
 * `everyMs` while the fleet churns, then checks that the edge's view converges to the
 * truth: each router's `GET /v1/devices/{id}` (online, and the state of an online
 * router) must match what the simulated router really is, at least once within
 * `convergeLimitMs` of the edge answering again (the truth moves under churn, so one
 * match per router is the test, not one instant where all match).
 */
export function startEdgeOutages(
  edge: LocalEdge,
  sim: Simulation,
  startedAt: number,
  options: EdgeOutageOptions,
  log: (line: string) => void,
): { stop(): Promise<OutageReport[]> } {
  const reports: OutageReport[] = [];
  const controller = new AbortController();
  const run = async () => {
    for (;;) {
      await sleep(options.everyMs, undefined, { signal: controller.signal });
      const stoppedAt = performance.now();
      log(`edge outage: stopping the edge for ${options.forMs / 1000} s`);
      await edge.pause();
      await sleep(options.forMs, undefined, { signal: controller.signal }).catch(async (error: unknown) => {
        await edge.resume();
        throw error;
      });
      await edge.resume();
      const upAt = performance.now();
      const report = await converge(edge, sim, options.convergeLimitMs, controller.signal);
      reports.push({
        atS: Math.round((stoppedAt - startedAt) / 1000),
        downS: Math.round((upAt - stoppedAt) / 100) / 10,
        ...report,
      });
      log(
        report.convergedS === null
          ? `edge outage: NOT converged — ${report.unconverged.length} of ${report.routers} routers never matched in ${options.convergeLimitMs / 1000} s`
          : `edge outage: all ${report.routers} routers matched the truth ${report.convergedS} s after the edge was back`,
      );
    }
  };
  const running = run().catch((error: unknown) => {
    if (!controller.signal.aborted) log(`edge outages stopped: ${String(error)}`);
  });
  return {
    async stop() {
      controller.abort();
      await running;
      return reports;
    },
  };
}

async function converge(
  edge: LocalEdge,
  sim: Simulation,
  limitMs: number,
  signal: AbortSignal,
): Promise<Omit<OutageReport, "atS" | "downS">> {
  const started = performance.now();
  const waiting = new Set(sim.routerIds());
  const routers = waiting.size;
  while (waiting.size > 0 && performance.now() - started < limitMs && !signal.aborted) {
    const ids = [...waiting];
    for (let i = 0; i < ids.length; i += PARALLEL_READS) {
      const batch = ids.slice(i, i + PARALLEL_READS);
      const matched = await Promise.all(batch.map((id) => matches(edge, sim, id)));
      batch.forEach((id, j) => {
        // A router that left the fleet (vanished) has no truth to match any more.
        if (matched[j] || sim.truth(id) === null) waiting.delete(id);
      });
    }
    if (waiting.size > 0) await sleep(500);
  }
  const convergedS = waiting.size === 0 ? Math.round((performance.now() - started) / 100) / 10 : null;
  return { routers, convergedS, unconverged: [...waiting].slice(0, 10) };
}

/** Does the edge's view of `id` match the router's truth now? */
async function matches(edge: LocalEdge, sim: Simulation, id: string): Promise<boolean> {
  try {
    const response = await fetch(`${edge.url}/v1/devices/${encodeURIComponent(id)}`, {
      headers: { authorization: `Bearer ${edge.railsToken}` },
      signal: AbortSignal.timeout(5_000),
    });
    const view: unknown = await response.json();
    const truth = sim.truth(id);
    if (!truth || !isRecord(view) || view.online !== truth.online) return false;
    return !truth.online || JSON.stringify(view.state) === JSON.stringify(truth.state);
  } catch {
    return false;
  }
}
