import { Gauge, type Registry } from "prom-client";
import { type CountsSource, pickCounts } from "./counts.js";

/** Name of the gauge; one series per count, labelled `kind`. */
export const LIVE_OBJECTS_GAUGE = "tether_live_objects";

const KIND_LABELS = {
  clients: "clients",
  persistentSessions: "persistent_sessions",
  pendingCommands: "pending_commands",
  forwarderQueue: "forwarder_queue",
  timers: "timers",
} as const;

/**
 * Registers `tether_live_objects{kind=...}` (clients, persistent_sessions,
 * pending_commands, forwarder_queue, timers), read from `counts` on each scrape,
 * so /metrics shows the same counts as the memory log line and /debug/memory.
 * The process's memory figures are already gauges (tether_rss_bytes, …).
 *
 * @example
 *   memoryGauges(metrics.registry, () => broker.stats());
 *   // tether_live_objects{kind="clients"} 200
 */
export function memoryGauges(registry: Registry, counts: CountsSource): Gauge<"kind"> {
  return new Gauge({
    name: LIVE_OBJECTS_GAUGE,
    help: "Live objects that must return to zero when traffic stops: clients, sessions, pending commands, forwarder queue, timers",
    labelNames: ["kind"],
    registers: [registry],
    async collect() {
      const current = pickCounts(await counts());
      this.reset();
      for (const [key, kind] of Object.entries(KIND_LABELS)) {
        const value = current[key as keyof typeof KIND_LABELS];
        if (value !== undefined) this.set({ kind }, value);
      }
    },
  });
}
