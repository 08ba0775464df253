import { Counter, Gauge, type Registry } from "prom-client";
import type { DesiredPutOutcome, DesiredStore } from "./desired-store.js";
import { MemoryDesiredStore } from "./desired-store.js";

/**
 * Desired state's metrics (issue 15): `tether_desired_puts_total{outcome}` (documents the
 * edge handed over: stored, same, stale) and, in memory mode, the store's size against
 * its byte bound: `tether_desired_documents`, `tether_desired_bytes`,
 * `tether_desired_evicted` (read on each scrape).
 */
export function desiredMetrics(
  registry: Registry,
  store: DesiredStore,
): (outcome: DesiredPutOutcome) => void {
  const puts = new Counter({
    name: "tether_desired_puts_total",
    help: "Desired documents the edge handed to this node, by outcome (stored, same, stale)",
    labelNames: ["outcome"],
    registers: [registry],
  });
  if (store instanceof MemoryDesiredStore) {
    new Gauge({
      name: "tether_desired_documents",
      help: "Desired documents held in memory (one per device at most)",
      registers: [registry],
      collect() {
        this.set(store.size);
      },
    });
    new Gauge({
      name: "tether_desired_bytes",
      help: "Bytes of desired documents held in memory (bounded: LRU beyond 64 MiB)",
      registers: [registry],
      collect() {
        this.set(store.bytes);
      },
    });
    new Gauge({
      name: "tether_desired_evicted",
      help: "Desired documents dropped from memory by the byte bound (the edge hands them again)",
      registers: [registry],
      collect() {
        this.set(store.evictions);
      },
    });
  }
  return (outcome) => puts.inc({ outcome });
}
